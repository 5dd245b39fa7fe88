from django.urls import reverse


def test_the_home_page_offers_sign_in_to_visitors(client, db):
    response = client.get("/")
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_it_signs_in_and_out(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302
    page = client.get("/")
    assert b"Welcome, Alice" in page.content
    assert b"Proposers" in page.content
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert b'name="password"' in client.get("/").content


def test_a_wrong_password_shows_an_error_and_signs_nobody_in(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_an_account_without_a_role_is_told_so(client, eve):
    client.force_login(eve)
    assert b"holds no qpgov role" in client.get("/").content


def test_healthz_reports_the_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"


def test_an_unknown_page_gets_the_friendly_404(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Not found" in response.content


def test_the_admin_is_for_staff_only(client, olga, staff):
    client.force_login(olga)
    assert client.get("/admin/").status_code == 302
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200


def test_static_css_is_vendored_not_from_a_cdn(client, db):
    html = client.get("/").content.decode()
    assert "/static/css/qpgov.css" in html
    assert "http://" not in html.split("<body")[0] and "https://" not in html.split("<body")[0]


def test_sign_in_is_throttled_after_repeated_failures(client, alice, settings):
    settings.QPGOV_SIGNIN_MAX_FAILURES = 3
    for _ in range(3):
        client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    # Even the right password is refused while the window lasts.
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-alice"})
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_the_throttle_lifts_when_the_window_slides_by(client, alice, settings):
    import time_machine
    from django.utils import timezone

    settings.QPGOV_SIGNIN_MAX_FAILURES = 2
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(2):
            client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    with time_machine.travel(start + timezone.timedelta(minutes=16), tick=False):
        response = client.post(reverse("login"), {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302


def test_staff_can_read_every_admin_list_but_not_change_the_records(client, staff):
    from django.contrib import admin

    client.force_login(staff)
    for model in admin.site._registry:
        opts = model._meta
        listing = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert listing.status_code == 200, opts.label
        if opts.app_label in ("qpgov", "changes", "incidents"):
            add = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
            assert add.status_code == 403, opts.label
