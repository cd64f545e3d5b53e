import factory
from factory.django import DjangoModelFactory

from accounts.models import Gender, Role, User

PASSWORD = "correct-horse-battery"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("first_name")
    gender = Gender.MALE
    role = Role.USER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):  # type: ignore[no-untyped-def]
        if create:
            instance.save()


class HostFactory(UserFactory):
    gender = Gender.FEMALE
    role = Role.HOST
