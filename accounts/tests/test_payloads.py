"""The user payloads (accounts/payloads.py) are what their serializers document, as a client
reads them."""

import pytest

from accounts.models import User
from accounts.payloads import party_data, profile_data
from accounts.serializers import ProfileSerializer
from calls.serializers import CallPartySerializer
from gifts.serializers import GiftPartySerializer
from tests.payloads import as_pushed, as_rendered

pytestmark = pytest.mark.django_db


def test_profile_data_is_the_documented_profile(alice: User, hana: User) -> None:
    hana.lat, hana.lon, hana.bio = 52.52, 13.405, "Hi"
    hana.save(update_fields=["lat", "lon", "bio"])
    for user in (alice, hana, User.objects.get(pk=hana.pk)):
        assert as_pushed(profile_data(user)) == as_rendered(ProfileSerializer(user).data)


def test_party_data_is_the_documented_party(alice: User, hana: User) -> None:
    for user in (alice, hana):
        for serializer in (CallPartySerializer, GiftPartySerializer):
            assert as_pushed(party_data(user)) == as_rendered(serializer(user).data)
