"""The floor views `make bench` measures pages against must keep doing what they claim."""

import pytest

from qpgov import roles

pytestmark = [pytest.mark.urls("bench.urls"), pytest.mark.django_db]


def test_the_bare_view_answers_anyone_without_a_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/bench/bare").content == b"ok"


def test_the_bare_signed_in_view_reads_the_session_the_user_and_their_roles(
    client, olga, django_assert_num_queries
):
    assert client.get("/bench/bare-signed-in").status_code == 302
    client.force_login(olga)
    with django_assert_num_queries(3):
        assert client.get("/bench/bare-signed-in").content.decode() == roles.CORE_OPS


def test_the_real_pages_are_still_served_beside_them(client):
    assert client.get("/postmortems/").status_code == 200
