from django.urls import path

from chat import api

urlpatterns = [
    path("chat/conversations", api.ConversationsApi.as_view(), name="chat-conversations"),
    path(
        "chat/conversations/<str:conversation_id>/messages",
        api.ConversationMessagesApi.as_view(),
        name="chat-conversation-messages",
    ),
    path(
        "chat/conversations/<str:conversation_id>/read",
        api.ConversationReadApi.as_view(),
        name="chat-conversation-read",
    ),
    path("chat/messages", api.MessagesApi.as_view(), name="chat-messages"),
]
