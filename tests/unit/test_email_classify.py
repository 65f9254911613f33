"""Tests for app.email.classify: open verdicts, reason codes and read-time buckets."""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from app.email.classify import (
    MACHINE_OPEN_WINDOW,
    READ_TIME_CAP_SECONDS,
    OpenClassification,
    ReadBucket,
    Verdict,
    classify_open,
    read_bucket,
)

SENT_AT = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
LATER = SENT_AT + timedelta(hours=3)

# Real user-agent strings as seen on pixel fetches.
APPLE_MPP = "Mozilla/5.0"
APPLE_MAIL = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
IOS_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
OUTLOOK_MSOFFICE = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
OUTLOOK_DESKTOP = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)"
THUNDERBIRD = (
    "Mozilla/5.0 (Windows NT 10.0; WOW64; rv:52.0) Gecko/20100101 Thunderbird/52.9.1 "
    "Lightning/5.4.9.1"
)
CHROME_DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
ANDROID_CUBOT = (
    "Mozilla/5.0 (Linux; Android 9; CUBOT_X19) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
BARRACUDA = "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"
# Security-gateway style UAs: the vendor name is the part the classifier keys on.
MIMECAST = "Mozilla/5.0 (compatible; Mimecast URL Protect)"
PROOFPOINT = "Mozilla/5.0 (compatible; Proofpoint URL Defense)"
TREND_MICRO = "Mozilla/5.0 (compatible; TrendMicro Email Security)"
GMAIL_SCANNER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0"
)
CURL = "curl/8.5.0"
PYTHON_REQUESTS = "python-requests/2.31.0"
GO_CLIENT = "Go-http-client/1.1"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.109 Safari/537.36"
)


def classify(
    user_agent: str | None,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    asn_org: str | None = None,
    sent_at: datetime | None = SENT_AT,
    opened_at: datetime = LATER,
) -> OpenClassification:
    return classify_open(
        method=method,
        user_agent=user_agent,
        headers=headers or {},
        asn_org=asn_org,
        sent_at=sent_at,
        opened_at=opened_at,
    )


# --- human opens -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_agent",
    [APPLE_MAIL, IOS_MAIL, OUTLOOK_MSOFFICE, OUTLOOK_DESKTOP, THUNDERBIRD, CHROME_DESKTOP],
    ids=["apple-mail", "ios-mail", "outlook-msoffice", "outlook-desktop", "thunderbird", "chrome"],
)
def test_mail_clients_and_browsers_are_human_with_device_data(user_agent: str) -> None:
    assert classify(user_agent) == OpenClassification(Verdict.HUMAN, ("client",), True)


def test_cubot_phone_is_not_mistaken_for_a_bot() -> None:
    assert classify(ANDROID_CUBOT).verdict is Verdict.HUMAN


def test_apple_mail_from_apple_network_without_bare_ua_is_human() -> None:
    result = classify(APPLE_MAIL, asn_org="APPLE-ENGINEERING")
    assert result == OpenClassification(Verdict.HUMAN, ("client",), True)


def test_gmail_proxy_is_human_without_device_data() -> None:
    result = classify(GMAIL_PROXY, headers={"Via": "1.1 google"})
    assert result == OpenClassification(Verdict.HUMAN, ("gmail_proxy",), False)


def test_yahoo_proxy_is_human_without_device_data() -> None:
    assert classify(YAHOO_PROXY) == OpenClassification(Verdict.HUMAN, ("yahoo_proxy",), False)


def test_via_google_header_alone_does_not_make_a_proxy() -> None:
    result = classify(CHROME_DESKTOP, headers={"Via": "1.1 google"})
    assert result == OpenClassification(Verdict.HUMAN, ("client",), True)


def test_open_without_sent_at_skips_the_timing_rule() -> None:
    assert classify(THUNDERBIRD, sent_at=None, opened_at=SENT_AT).verdict is Verdict.HUMAN


# --- Apple Mail Privacy Protection ---------------------------------------------------------


def test_bare_mozilla_ua_is_apple_mpp() -> None:
    assert classify(APPLE_MPP) == OpenClassification(Verdict.MACHINE, ("apple_mpp",), False)


@pytest.mark.parametrize("asn_org", ["APPLE-ENGINEERING", "Apple Inc."])
def test_apple_mpp_from_apple_network_adds_apple_network(asn_org: str) -> None:
    result = classify(APPLE_MPP, asn_org=asn_org)
    assert result == OpenClassification(Verdict.MACHINE, ("apple_mpp", "apple_network"), False)


def test_apple_mpp_from_other_network_has_no_apple_network_reason() -> None:
    assert classify(APPLE_MPP, asn_org="PINEAPPLE HOSTING").reasons == ("apple_mpp",)


def test_apple_mpp_ua_with_surrounding_whitespace_still_counts() -> None:
    assert classify(" Mozilla/5.0 ").reasons == ("apple_mpp",)


# --- Gmail prefetch ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"X-Purpose": "prefetch"}, {"Purpose": "prefetch"}, {"x-purpose": "preview"}],
)
def test_gmail_proxy_with_prefetch_header_is_gmail_prefetch(headers: dict[str, str]) -> None:
    result = classify(GMAIL_PROXY, headers=headers)
    assert result == OpenClassification(Verdict.MACHINE, ("gmail_prefetch",), False)


def test_gmail_proxy_two_seconds_after_send_is_gmail_prefetch() -> None:
    result = classify(GMAIL_PROXY, opened_at=SENT_AT + timedelta(seconds=2))
    assert result == OpenClassification(Verdict.MACHINE, ("gmail_prefetch",), False)


def test_gmail_proxy_prefetch_header_and_timing_give_one_reason() -> None:
    result = classify(
        GMAIL_PROXY, headers={"Purpose": "prefetch"}, opened_at=SENT_AT + timedelta(seconds=2)
    )
    assert result.reasons == ("gmail_prefetch",)


def test_gmail_proxy_head_request_keeps_head_reason() -> None:
    assert classify(GMAIL_PROXY, method="HEAD").reasons == ("head_request",)


# --- scanners and bots -------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_agent",
    [BARRACUDA, MIMECAST, PROOFPOINT, TREND_MICRO, GMAIL_SCANNER],
    ids=["barracuda", "mimecast", "proofpoint", "trend-micro", "gmail-scanner"],
)
def test_security_scanners_are_machine(user_agent: str) -> None:
    assert classify(user_agent) == OpenClassification(Verdict.MACHINE, ("scanner",), False)


@pytest.mark.parametrize(
    "user_agent",
    [CURL, PYTHON_REQUESTS, GO_CLIENT, GOOGLEBOT, HEADLESS, "okhttp/4.12.0"],
    ids=["curl", "python-requests", "go", "googlebot", "headless-chrome", "okhttp"],
)
def test_generic_bots_are_machine(user_agent: str) -> None:
    assert classify(user_agent) == OpenClassification(Verdict.MACHINE, ("bot",), False)


def test_scanner_reason_comes_before_request_signals() -> None:
    result = classify(BARRACUDA, method="HEAD", opened_at=SENT_AT + timedelta(seconds=1))
    assert result.reasons == ("scanner", "head_request", "too_soon_after_send")


# --- request signals ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["HEAD", "head"])
def test_head_request_is_machine(method: str) -> None:
    result = classify(OUTLOOK_DESKTOP, method=method)
    assert result == OpenClassification(Verdict.MACHINE, ("head_request",), False)


@pytest.mark.parametrize(
    "headers",
    [
        {"Purpose": "prefetch"},
        {"Sec-Purpose": "prefetch"},
        {"sec-purpose": "prefetch;prerender"},
        {"X-Moz": "prefetch"},
        {"X-Purpose": "preview"},
    ],
)
def test_prefetch_headers_are_machine(headers: dict[str, str]) -> None:
    result = classify(CHROME_DESKTOP, headers=headers)
    assert result == OpenClassification(Verdict.MACHINE, ("prefetch",), False)


def test_unrelated_purpose_header_is_ignored() -> None:
    assert classify(CHROME_DESKTOP, headers={"Sec-Purpose": "prerender"}).verdict is Verdict.HUMAN


@pytest.mark.parametrize("seconds", [0, 2, 10, -3])
def test_open_within_window_of_send_is_too_soon(seconds: int) -> None:
    result = classify(THUNDERBIRD, opened_at=SENT_AT + timedelta(seconds=seconds))
    assert result == OpenClassification(Verdict.MACHINE, ("too_soon_after_send",), False)


@pytest.mark.parametrize("seconds", [11, 3600, -3600])
def test_open_outside_window_is_not_too_soon(seconds: int) -> None:
    assert classify(THUNDERBIRD, opened_at=SENT_AT + timedelta(seconds=seconds)).reasons == (
        "client",
    )


def test_window_constant_is_ten_seconds() -> None:
    assert timedelta(seconds=10) == MACHINE_OPEN_WINDOW


def test_naive_and_aware_datetimes_compare_as_utc() -> None:
    naive_sent = SENT_AT.replace(tzinfo=None)
    assert classify(THUNDERBIRD, sent_at=naive_sent, opened_at=SENT_AT).reasons == (
        "too_soon_after_send",
    )


def test_yahoo_proxy_too_soon_is_machine() -> None:
    result = classify(YAHOO_PROXY, opened_at=SENT_AT + timedelta(seconds=3))
    assert result == OpenClassification(
        Verdict.MACHINE, ("yahoo_proxy", "too_soon_after_send"), False
    )


def test_apple_mpp_signals_follow_identity() -> None:
    result = classify(APPLE_MPP, asn_org="Apple Inc.", opened_at=SENT_AT + timedelta(seconds=4))
    assert result.reasons == ("apple_mpp", "apple_network", "too_soon_after_send")


# --- missing user agent ------------------------------------------------------------------


@pytest.mark.parametrize("user_agent", [None, "", "   "])
def test_missing_user_agent_is_unknown(user_agent: str | None) -> None:
    result = classify(user_agent)
    assert result == OpenClassification(Verdict.UNKNOWN, ("no_user_agent",), False)


def test_missing_user_agent_with_machine_signal_is_machine() -> None:
    assert classify(None, method="HEAD") == OpenClassification(
        Verdict.MACHINE, ("head_request",), False
    )


def test_verdicts_are_plain_strings() -> None:
    assert classify(GMAIL_PROXY).verdict == "human"
    assert str(Verdict.MACHINE) == "machine"


# --- read-time buckets -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "bucket"),
    [
        (0.0, ReadBucket.GLANCED),
        (1.99, ReadBucket.GLANCED),
        (2.0, ReadBucket.SKIMMED),
        (7.99, ReadBucket.SKIMMED),
        (8.0, ReadBucket.READ),
        (READ_TIME_CAP_SECONDS, ReadBucket.READ),
        (600.0, ReadBucket.READ),
    ],
)
def test_read_bucket_thresholds(held: float, bucket: ReadBucket) -> None:
    assert read_bucket(held, proxied=False) is bucket


@pytest.mark.parametrize("held", [0.5, 5.0, 15.0, None])
def test_proxied_hold_is_unsupported(held: float | None) -> None:
    assert read_bucket(held, proxied=True) is ReadBucket.UNSUPPORTED


@pytest.mark.parametrize("held", [None, -1.0, float("nan"), float("inf")])
def test_missing_or_faulty_hold_is_unsupported(held: float | None) -> None:
    assert read_bucket(held, proxied=False) is ReadBucket.UNSUPPORTED


def test_read_time_cap_is_twenty_seconds() -> None:
    assert READ_TIME_CAP_SECONDS == 20


def test_proxied_flag_follows_device_data() -> None:
    gmail = classify(GMAIL_PROXY)
    assert read_bucket(12.0, proxied=not gmail.device_data) is ReadBucket.UNSUPPORTED
    outlook = classify(OUTLOOK_DESKTOP)
    assert read_bucket(12.0, proxied=not outlook.device_data) is ReadBucket.READ
