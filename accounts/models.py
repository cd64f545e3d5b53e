from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

# Coins a host charges per billed minute: the default a new host starts with, and the range
# a host may choose from (keeps a typo from charging a caller thousands per minute).
RATE_PER_MINUTE_DEFAULT = 60
RATE_PER_MINUTE_MIN = 10
RATE_PER_MINUTE_MAX = 1000


class Gender(models.TextChoices):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"


class Role(models.TextChoices):
    USER = "user"  # pays
    HOST = "host"  # earns
    STAFF = "staff"  # runs the admin


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: object) -> "User":
        if not email:
            raise ValueError("A user needs an e-mail address")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> "User":
        fields.update(is_staff=True, is_superuser=True, role=Role.STAFF)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=80)
    gender = models.CharField(max_length=8, choices=Gender.choices)
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.USER, db_index=True)
    bio = models.CharField(max_length=500, blank=True, default="")
    rate_per_minute = models.PositiveIntegerField(
        default=RATE_PER_MINUTE_DEFAULT,
        validators=[MinValueValidator(RATE_PER_MINUTE_MIN), MaxValueValidator(RATE_PER_MINUTE_MAX)],
        help_text="Coins per billed minute; only meaningful for hosts.",
    )
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May log in to the admin.")
    created_at = models.DateTimeField(default=timezone.now)
    # A host staff have checked: only verified hosts may request withdrawals. `by` is empty
    # for hosts verified by the data migration (accounts/migrations/0002) or by a script.
    host_verified_at = models.DateTimeField(null=True, blank=True)
    host_verified_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name", "gender"]

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(rate_per_minute__gte=RATE_PER_MINUTE_MIN)
                & Q(rate_per_minute__lte=RATE_PER_MINUTE_MAX),
                name="user_rate_per_minute_in_range",
            ),
            models.CheckConstraint(
                condition=(Q(lat__isnull=True) & Q(lon__isnull=True))
                | (Q(lat__gte=-90) & Q(lat__lte=90) & Q(lon__gte=-180) & Q(lon__lte=180)),
                name="user_location_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def is_host(self) -> bool:
        return self.role == Role.HOST

    @property
    def is_verified_host(self) -> bool:
        return self.is_host and self.host_verified_at is not None


class Block(models.Model):
    """`blocker` does not want calls, messages or gifts from `blocked`."""

    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_received")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_once"),
            models.CheckConstraint(
                condition=~Q(blocker=models.F("blocked")), name="block_not_self"
            ),
        ]
        indexes = [models.Index(fields=["blocked", "blocker"])]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"


class Report(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"
        DISMISSED = "dismissed"

    reporter = models.ForeignKey(User, on_delete=models.CASCADE, related_name="reports_made")
    reported = models.ForeignKey(User, on_delete=models.CASCADE, related_name="reports_received")
    reason = models.CharField(max_length=100)
    details = models.TextField(max_length=2000, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"])]

    def __str__(self) -> str:
        return f"Report {self.pk}: {self.reporter_id} on {self.reported_id} ({self.reason})"
