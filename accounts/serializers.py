"""Shapes of the accounts API (API.md, Accounts): what comes in and what goes out."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_simplejwt.serializers import PasswordField, TokenObtainPairSerializer

from accounts.models import RATE_PER_MINUTE_MAX, RATE_PER_MINUTE_MIN, Gender, Role, User
from accounts.tokens import SessionRefreshToken

# --- Out -----------------------------------------------------------------------------------


class _RateMixin(serializers.Serializer[Any]):
    rate_per_minute = serializers.SerializerMethodField(
        help_text="Coins per billed minute; null unless the user is a host."
    )

    def get_rate_per_minute(self, user: User) -> int | None:
        return user.rate_per_minute if user.is_host else None


class ProfileSerializer(_RateMixin, serializers.ModelSerializer[User]):
    """The caller's own profile: the user object plus the last location they set."""

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "name",
            "gender",
            "role",
            "bio",
            "rate_per_minute",
            "created_at",
            "lat",
            "lon",
        ]
        read_only_fields = fields


class PublicProfileSerializer(_RateMixin, serializers.ModelSerializer[User]):
    """Another user as anyone may see them: no e-mail, no location, live presence. The view
    reads the statuses (one Redis read for a whole list) and passes them in the context's
    `statuses`, keyed by user id: a serializer never reads Redis."""

    presence = serializers.SerializerMethodField(
        help_text="`busy` while in a call, `online` while connected, else `offline`."
    )

    class Meta:
        model = User
        fields = [
            "id",
            "name",
            "gender",
            "role",
            "bio",
            "rate_per_minute",
            "created_at",
            "presence",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["online", "busy", "offline"]))
    def get_presence(self, user: User) -> str:
        return str(self.context["statuses"][user.pk])


class NearbyUserSerializer(PublicProfileSerializer):
    distance_km = serializers.SerializerMethodField(
        help_text="Distance from the searched point in kilometres (3 decimals)."
    )

    class Meta(PublicProfileSerializer.Meta):
        fields = [*PublicProfileSerializer.Meta.fields, "distance_km"]
        read_only_fields = fields

    def get_distance_km(self, user: User) -> float:
        return float(self.context["distances"][user.pk])


class _PageSerializer(serializers.Serializer[Any]):
    next = serializers.CharField(
        allow_null=True, help_text="Pass as `?cursor=` for the next page; null on the last."
    )


class OnlinePageSerializer(_PageSerializer):
    results = PublicProfileSerializer(many=True)


class NearbyPageSerializer(_PageSerializer):
    results = NearbyUserSerializer(many=True)


class MatchSerializer(serializers.Serializer[Any]):
    user = PublicProfileSerializer()


class TokenPairSerializer(serializers.Serializer[Any]):
    access = serializers.CharField(help_text="Short-lived JWT for `Authorization: Bearer`.")
    refresh = serializers.CharField(
        help_text="Long-lived JWT for /auth/token/refresh; works once (it rotates)."
    )


class RegistrationSerializer(TokenPairSerializer):
    user = ProfileSerializer()


class ReportSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    user_id = serializers.IntegerField(source="reported_id")
    reason = serializers.CharField()
    details = serializers.CharField()
    created_at = serializers.DateTimeField()


# --- In ------------------------------------------------------------------------------------


class CoordinateField(serializers.FloatField):
    """A float that refuses booleans (plain FloatField would read `true` as 1.0)."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


# Anyone may sign up as a user or a host; staff accounts are made in the admin.
SIGNUP_ROLES = [role.value for role in Role if role != Role.STAFF]


# Its own schema component: a second, smaller enum named like the profile's `role` would
# collide with RoleEnum in the generated schema.
@extend_schema_field({"type": "string", "enum": SIGNUP_ROLES}, component_name="SignupRoleEnum")
class SignupRoleField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=SIGNUP_ROLES, **kwargs)


class RegisterSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField(max_length=254)
    # Passwords are taken byte for byte: trimming would lock out "  secret  ".
    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=128)
    name = serializers.CharField(max_length=80)
    gender = serializers.ChoiceField(choices=Gender.choices)
    role = SignupRoleField(default=Role.USER)


class ProfileUpdateSerializer(serializers.Serializer[Any]):
    """Only the fields to change. `id`, `email`, `role` and `created_at` are ignored, so a
    profile can be sent back as received; any other unknown field is an error."""

    IGNORED = frozenset({"id", "email", "role", "created_at"})

    name = serializers.CharField(max_length=80, required=False)
    bio = serializers.CharField(max_length=500, allow_blank=True, required=False)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False)
    rate_per_minute = serializers.IntegerField(
        min_value=RATE_PER_MINUTE_MIN,
        max_value=RATE_PER_MINUTE_MAX,
        allow_null=True,
        required=False,
        help_text="Hosts only; anyone else may send only null (which changes nothing).",
    )
    lat = CoordinateField(min_value=-90, max_value=90, allow_null=True, required=False)
    lon = CoordinateField(min_value=-180, max_value=180, allow_null=True, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Refused, so that a typo ("nmae") never silently changes nothing.
        unknown = set(self.initial_data) - set(self.fields) - self.IGNORED
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in sorted(unknown)})
        return attrs


class TokenObtainSerializer(TokenObtainPairSerializer):
    """E-mail (any letter case) and password. Every login starts a session of its own."""

    token_class = SessionRefreshToken

    # SimpleJWT's login, except that e-mails are matched lower-case (as stored) and
    # passwords are not trimmed (registration does not trim them either).
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password"] = PasswordField(trim_whitespace=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        attrs[self.username_field] = attrs[self.username_field].strip().lower()
        return super().validate(attrs)


class RefreshSerializer(serializers.Serializer[Any]):
    refresh = serializers.CharField()


class ReportCreateSerializer(serializers.Serializer[Any]):
    user_id = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(max_length=100)
    details = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")


class PresenceFilterIn(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False)


class PresencePageIn(PresenceFilterIn):
    # Blank is let through to the cursor check, which refuses it like any other bad cursor.
    cursor = serializers.CharField(
        required=False, allow_blank=True, help_text="The `next` value of a page."
    )
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


# API.md's cap: a wider search would sort a continent's users on every page.
NEARBY_RADIUS_MAX_KM = 500


class NearbyIn(PresencePageIn):
    lat = CoordinateField(min_value=-90, max_value=90)
    lon = CoordinateField(min_value=-180, max_value=180)
    radius_km = serializers.FloatField(min_value=0.001, max_value=NEARBY_RADIUS_MAX_KM)


class MatchIn(PresenceFilterIn):
    """Optional filters; without `role`, a user is matched with hosts and a host with users."""
