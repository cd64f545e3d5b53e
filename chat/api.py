"""Chat endpoints (API.md, Chat; docs/chat.md). Views validate, call one service or
selector and answer; `chat:*` socket events call the same services."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.selectors import (
    conversation_data,
    conversation_list_for,
    message_data,
    message_list_for,
    page_limit,
)
from chat.serializers import (
    ConversationPageSerializer,
    MessagePageSerializer,
    MessageSendIn,
    MessageSerializer,
)
from chat.services import conversation_mark_read, message_send
from videochat.openapi import error_responses
from videochat.views import caller

_LIMIT = OpenApiParameter(
    "limit", OpenApiTypes.INT, description="Page size (default 50, at most 100)."
)
_CURSOR = OpenApiParameter(
    "cursor", OpenApiTypes.STR, description="The `next` of the previous page."
)


class ConversationsApi(APIView):
    @extend_schema(
        summary="My conversations",
        description="Conversations with at least one message, most recent first, each with "
        "the caller's unread count.",
        parameters=[_CURSOR, _LIMIT],
        responses={200: ConversationPageSerializer, **error_responses(400, 401)},
    )
    def get(self, request: Request) -> Response:
        user = caller(request)
        items, next_cursor = conversation_list_for(
            user_id=user.pk,
            before=request.query_params.get("cursor"),
            limit=page_limit(request.query_params.get("limit")),
        )
        results = [conversation_data(c, user_id=user.pk) for c in items]
        return Response({"results": results, "next": next_cursor})


class ConversationMessagesApi(APIView):
    @extend_schema(
        summary="Messages of a conversation",
        description="Newest first. `before=<message id>` (or `cursor=`, the previous "
        "page's `next`) returns older messages. 404 for a conversation the caller is not "
        "part of.",
        parameters=[
            OpenApiParameter(
                "before", OpenApiTypes.STR, description="A message id: only older ones."
            ),
            _CURSOR,
            _LIMIT,
        ],
        responses={200: MessagePageSerializer, **error_responses(400, 401, 404)},
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        params = request.query_params
        param = "before" if "before" in params else "cursor"
        items, next_cursor = message_list_for(
            conversation_id=conversation_id,
            user_id=caller(request).pk,
            before=params.get(param),
            limit=page_limit(params.get("limit")),
            param=param,
        )
        return Response({"results": [message_data(m) for m in items], "next": next_cursor})


class MessagesApi(APIView):
    @extend_schema(
        summary="Send a message",
        description="REST twin of the `chat:message` socket event. Text is 1 to 4,000 "
        "characters after trimming (stored trimmed). The same `client_id` twice stores one "
        "message and answers the stored one (201 then 200). The recipient's sockets get "
        "`chat:message`. 404 for an unknown recipient, 403 `blocked`, 429 `rate_limited`.",
        request=MessageSendIn,
        responses={
            201: MessageSerializer,
            200: MessageSerializer,
            **error_responses(400, 401, 403, 404, 413, 429),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = MessageSendIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        sent = message_send(sender=caller(request), **serializer.validated_data)
        return Response(
            sent.data, status=status.HTTP_201_CREATED if sent.created else status.HTTP_200_OK
        )


class ConversationReadApi(APIView):
    @extend_schema(
        summary="Mark a conversation read",
        description="Marks every message the caller received in it `read`, zeroes the "
        "caller's unread count and sends `chat:receipt` to the sender.",
        request=None,
        responses={204: None, **error_responses(401, 404)},
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        conversation_mark_read(user_id=caller(request).pk, conversation_id=conversation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
