"""HelixClient against a loopback Twitch: auth, paging, rate limits, retries, validation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from helix_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    USER_TOKEN,
    FakeClock,
    FakeTwitch,
    Fault,
    running,
)

from vieweratlas.config import Settings, load_settings
from vieweratlas.errors import ConfigError, TwitchError
from vieweratlas.sources.common.http import RetryPolicy
from vieweratlas.sources.twitch.helix import HelixClient, top_channel_source

pytestmark = pytest.mark.server


@pytest.fixture
def fake() -> Iterator[FakeTwitch]:
    yield from running()


def settings_for(fake: FakeTwitch, **twitch: Any) -> Settings:
    return load_settings(environ={}, overrides={"twitch": fake.twitch_settings(**twitch)})


def run(fake: FakeTwitch, clock: FakeClock, call: Any, **kw: Any) -> Any:
    async def go() -> Any:
        async with HelixClient(settings_for(fake).twitch, clock=clock, **kw) as helix:
            return await call(helix)

    return asyncio.run(go())


def test_top_streams_dedupes_overlapping_pages_and_stops_at_n(fake: FakeTwitch) -> None:
    fake.add_streams(400)
    streams = run(fake, FakeClock(), lambda h: h.top_streams(250))
    assert len(streams) == 250
    assert len({s.user_id for s in streams}) == 250
    # Pages overlap by 5, so 3 pages of 100 hold 290 distinct streams: 3 requests, no more.
    hits = fake.hits("/helix/streams")
    assert len(hits) == 3
    assert all(h.query["first"] == ["100"] for h in hits)
    assert "after" not in hits[0].query and "after" in hits[1].query
    viewers = [s.viewer_count for s in streams]
    assert viewers == sorted(viewers, reverse=True)
    assert streams[0].user_login == "chan0000"


def test_every_call_sends_client_id_and_bearer(fake: FakeTwitch) -> None:
    fake.add_streams(10)
    run(fake, FakeClock(), lambda h: h.top_streams(5))
    (token,) = fake.hits("/oauth2/token")
    assert token.method == "POST"
    assert CLIENT_SECRET.encode() in token.body  # in the form body, not the URL
    assert CLIENT_SECRET not in token.path
    for hit in fake.hits("/helix/streams"):
        assert hit.headers["Client-Id"] == CLIENT_ID
        assert hit.headers["Authorization"] == "Bearer app-token-1"


def test_top_streams_with_fewer_live_than_asked(fake: FakeTwitch) -> None:
    fake.add_streams(42)
    streams = run(fake, FakeClock(), lambda h: h.top_streams(250))
    assert len(streams) == 42


def test_429_waits_until_ratelimit_reset(fake: FakeTwitch) -> None:
    fake.add_streams(10)
    clock = FakeClock()
    reset = int(clock.now) + 7
    fake.fail(
        "/helix/streams",
        Fault(
            429,
            b'{"error":"Too Many Requests","status":429,"message":""}',
            {"Ratelimit-Limit": "800", "Ratelimit-Remaining": "0", "Ratelimit-Reset": str(reset)},
        ),
    )
    streams = run(fake, clock, lambda h: h.top_streams(10))
    assert len(streams) == 10
    assert clock.sleeps == [7.0]
    assert len(fake.hits("/helix/streams")) == 2


def test_empty_bucket_waits_before_the_next_call(fake: FakeTwitch) -> None:
    fake.add_streams(300)
    fake.stream_overlap = 0
    clock = FakeClock()
    reset = int(clock.now) + 3
    headers = {"Ratelimit-Limit": "800", "Ratelimit-Remaining": "0", "Ratelimit-Reset": str(reset)}
    page = fake.streams[:100]
    body = (
        '{"data": '
        + __import__("json").dumps(page)
        + ', "pagination": {"cursor": "eyJvIjogMTAwfQ=="}}'
    )
    fake.fail("/helix/streams", Fault(200, body.encode(), headers))
    streams = run(fake, clock, lambda h: h.top_streams(150))
    assert len(streams) == 150
    assert clock.sleeps == [3.0]  # waited for the reset, without a 429


def test_401_fetches_a_new_app_token_once(fake: FakeTwitch) -> None:
    fake.add_streams(10)

    async def twice(helix: HelixClient) -> list[Any]:
        first = await helix.top_streams(5)
        fake.revoke_tokens()
        return [first, await helix.top_streams(5)]

    first, second = run(fake, FakeClock(), twice)
    assert len(first) == len(second) == 5
    assert fake.tokens_issued == 2
    auths = [h.headers["Authorization"] for h in fake.hits("/helix/streams")]
    assert auths == ["Bearer app-token-1", "Bearer app-token-1", "Bearer app-token-2"]


def test_expired_token_is_refreshed_without_a_401(fake: FakeTwitch) -> None:
    fake.add_streams(10)
    fake.token_ttl = 600
    clock = FakeClock()

    async def later(helix: HelixClient) -> None:
        await helix.top_streams(5)
        clock.now += 600
        await helix.top_streams(5)

    run(fake, clock, later)
    assert fake.tokens_issued == 2
    assert [h.headers["Authorization"] for h in fake.hits("/helix/streams")] == [
        "Bearer app-token-1",
        "Bearer app-token-2",
    ]


def test_5xx_then_success_backs_off_exponentially(fake: FakeTwitch) -> None:
    fake.add_streams(10)
    fake.fail("/helix/streams", Fault(503), Fault(502), Fault(500))
    clock = FakeClock()
    streams = run(fake, clock, lambda h: h.top_streams(10))
    assert len(streams) == 10
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_5xx_forever_gives_up_with_one_line(fake: FakeTwitch) -> None:
    fake.add_streams(10)
    fake.fail("/helix/streams", *[Fault(503)] * 10)
    clock = FakeClock()
    with pytest.raises(TwitchError) as info:
        run(fake, clock, lambda h: h.top_streams(10), policy=RetryPolicy(attempts=4))
    assert str(info.value) == "helix /streams: HTTP 503 after 4 attempts"
    assert len(fake.hits("/helix/streams")) == 4


def test_dropped_connection_and_timeout_are_retried(fake: FakeTwitch) -> None:
    fake.add_streams(10)
    fake.fail("/helix/streams", Fault(200, drop=True), Fault(200, delay=1.0))
    clock = FakeClock()
    streams = run(fake, clock, lambda h: h.top_streams(10), timeout=0.2)
    assert len(streams) == 10
    assert clock.sleeps == [0.5, 1.0]


def test_unreachable_endpoint_is_a_one_line_error() -> None:
    settings = load_settings(
        environ={},
        overrides={
            "twitch": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "auth_url": "http://127.0.0.1:9/oauth2/token",
                "helix_url": "http://127.0.0.1:9/helix",
            }
        },
    )

    async def go() -> None:
        async with HelixClient(settings.twitch, clock=FakeClock()) as helix:
            await helix.top_streams(1)

    with pytest.raises(TwitchError, match=r"^auth: token request: cannot connect"):
        asyncio.run(go())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"data": [{"id": ', "helix /streams: answered with invalid JSON (HTTP 200)"),
        (b'{"nodata": []}', "helix /streams: unexpected response at data: Field required"),
        (
            b'{"data": [{"id": "1", "user_id": "2", "user_login": "a b", "viewer_count": 1}]}',
            "helix /streams: unexpected response at data.0.user_login",
        ),
        (
            b'{"data": [{"id": "1", "user_id": "2", "user_login": "ab", "viewer_count": -4}]}',
            "helix /streams: unexpected response at data.0.viewer_count",
        ),
    ],
)
def test_malformed_answers_are_clear_errors(fake: FakeTwitch, body: bytes, message: str) -> None:
    fake.fail("/helix/streams", Fault(200, body))
    with pytest.raises(TwitchError) as info:
        run(fake, FakeClock(), lambda h: h.top_streams(10))
    text = str(info.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_users_are_fetched_in_batches_of_100(fake: FakeTwitch) -> None:
    fake.add_streams(250)
    logins = [f"chan{i:04d}" for i in range(250)] + ["nobody_here"]
    users = run(fake, FakeClock(), lambda h: h.users(logins))
    assert len(users) == 250
    batches = [len(h.query["login"]) for h in fake.hits("/helix/users")]
    assert batches == [100, 100, 51]


def test_rejected_client_credentials(fake: FakeTwitch) -> None:
    settings = settings_for(fake, client_secret="wrong-secret-XYZ")

    async def go() -> None:
        async with HelixClient(settings.twitch, clock=FakeClock()) as helix:
            await helix.top_streams(1)

    with pytest.raises(TwitchError) as info:
        asyncio.run(go())
    assert "refused twitch.client_id/twitch.client_secret (HTTP 400)" in str(info.value)
    assert "wrong-secret-XYZ" not in str(info.value)


def test_secrets_never_reach_logs_or_errors(
    fake: FakeTwitch, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add_streams(20)
    fake.add_user("somechan", "777")
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    settings = settings_for(fake, oauth_token=f"oauth:{USER_TOKEN}")

    async def go() -> None:
        async with HelixClient(settings.twitch, clock=FakeClock()) as helix:
            await helix.top_streams(5)
            fake.revoke_tokens()
            await helix.top_streams(5)
            fake.fail("/helix/streams", Fault(200, b"not json"))
            try:
                await helix.top_streams(5)
            except TwitchError as exc:
                texts.append(str(exc))
                texts.append(repr(exc))
            try:
                await helix.chatters("777", "9000")
            except TwitchError as exc:  # not a moderator: 403
                texts.append(str(exc))
            assert "HTTP 403 (The user in moderator_id is not one of" in texts[-1]
            echo = f'{{"status": 400, "message": "bad app-token-2 or {USER_TOKEN}"}}'
            fake.fail("/helix/streams", Fault(400, echo.encode()))
            try:
                await helix.top_streams(5)
            except TwitchError as exc:  # a server echoing our token back
                texts.append(str(exc))
            assert texts[-1] == "helix /streams: HTTP 400 (bad *** or ***)"

    asyncio.run(go())
    texts.append(repr(settings))
    texts.append(str(settings.model_dump()))
    everything = caplog.text + "\n".join(texts)
    assert "HTTP Request" in caplog.text or caplog.records  # logging did happen
    for secret in (CLIENT_SECRET, USER_TOKEN, "app-token-1", "app-token-2"):
        assert secret not in everything


def test_user_token_without_oauth_prefix_is_sent_for_chatters(fake: FakeTwitch) -> None:
    fake.add_user("somechan", "777")
    fake.moderated.add("777")
    fake.chatters["777"] = [
        {"user_id": str(i), "user_login": f"viewer{i}", "user_name": f"V{i}"} for i in range(2500)
    ]
    settings = settings_for(fake, oauth_token=f"oauth:{USER_TOKEN}")

    async def go() -> Any:
        async with HelixClient(settings.twitch, clock=FakeClock()) as helix:
            me = await helix.me()
            return me, await helix.chatters("777", me.id)

    me, chatters = asyncio.run(go())
    assert me.login == "modbot"
    assert len(chatters) == 2500
    hits = fake.hits("/helix/chat/chatters")
    assert [h.query["first"] for h in hits] == [["1000"]] * 3
    assert all(h.headers["Authorization"] == f"Bearer {USER_TOKEN}" for h in hits)


def test_top_channel_source_needs_credentials() -> None:
    settings = load_settings(environ={})
    with pytest.raises(ConfigError, match=r"--top needs twitch.client_id and twitch.client_secret"):
        top_channel_source(settings, 10)


def test_top_channel_source_fetches_logins(fake: FakeTwitch) -> None:
    fake.add_streams(120)
    source = top_channel_source(settings_for(fake), 110)
    logins = asyncio.run(source.fetch())
    assert len(logins) == 110 == len(set(logins))
    assert logins[0] == "chan0000"
    try:
        from vieweratlas.sources.common.channels import ChannelSource
    except ImportError:  # the live collector's module is optional here
        return
    assert isinstance(source, ChannelSource)


def test_deeply_nested_json_is_refused(fake: FakeTwitch) -> None:
    fake.fail("/helix/streams", Fault(200, b"[" * 100_000))
    with pytest.raises(TwitchError, match=r"^helix /streams: answered with invalid JSON"):
        run(fake, FakeClock(), lambda h: h.top_streams(10))


def test_oversized_and_gzip_bomb_bodies_are_refused(fake: FakeTwitch) -> None:
    import gzip

    from vieweratlas.sources.common.http import Transport

    fake.fail(
        "/helix/streams",
        Fault(200, b'{"data": []}' + b" " * 5000),
        Fault(200, gzip.compress(b" " * 50_000), {"Content-Encoding": "gzip"}),
    )

    async def go() -> list[str]:
        http = Transport(clock=FakeClock(), max_body=4096)
        errors = []
        try:
            for _ in range(2):
                try:
                    await http.send(
                        "x", lambda: http.client.build_request("GET", fake.url + "/helix/streams")
                    )
                except TwitchError as exc:
                    errors.append(str(exc))
        finally:
            await http.aclose()
        return errors

    assert asyncio.run(go()) == ["x: response larger than 4,096 bytes, refused"] * 2
