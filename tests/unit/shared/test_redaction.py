import pytest

from shared.redaction import REDACTED, clip, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi", "Authorization: [redacted] [redacted]"),
        ("sent bearer xyz123, refused", "sent bearer [redacted], refused"),
        ("header Basic dXNlcjpwYXNzd29yZA==", "header Basic [redacted]"),
        ('{"x-api-key": "k-123"}', '{"x-api-key": "[redacted]"}'),
        ("?api_key=abc&model=m", "?api_key=[redacted]&model=m"),
        ("password: hunter2", "password: [redacted]"),
        ("client_secret=s3cr3t; next", "client_secret=[redacted]; next"),
        ("dial nats://gw:pa55@nats:4222 failed", "dial nats://[redacted]@nats:4222 failed"),
        ("key sk-ant-api03-abcd was refused", "key [redacted] was refused"),
        ("key sk-backend-secret was refused", "key [redacted] was refused"),
        ("groq gsk_abcdefgh1234", "groq [redacted]"),
        ("token hf_abcdefghijklmn", "token [redacted]"),
        ("github ghp_0123456789abcdef", "github [redacted]"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "aws [redacted] here"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig", "jwt [redacted]"),
        ("hex 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b8", "hex [redacted]"),
        ("b64 QmFzZTY0RW5jb2RlZFNlY3JldFZhbHVlMTIzNDU2Nzg5MA==", "b64 [redacted]"),
    ],
)
def test_credentials_are_redacted(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
        "max_tokens must be at least 1, got 0",
        "The model `meta-llama/Meta-Llama-3.1-70B-Instruct` does not exist.",
        "the request exceeds the available context size, try increasing it",
        "rate limit reached for requests per minute; retry later",
        "bad backend key",
        "a_very_long_identifier_without_any_digits_in_it_at_all",
    ],
)
def test_ordinary_error_text_is_left_alone(text):
    assert redact(text) == text


def test_known_secrets_are_redacted_whatever_their_shape():
    assert redact("the key was plain words", secrets=["plain words", ""]) == f"the key was {REDACTED}"


def test_clip_cuts_at_a_space_so_no_fragment_of_a_word_is_left():
    assert clip("short", 10) == "short"
    assert clip("one two sk-abcdefghijkl", 14) == "one two"
    assert clip("x" * 20, 10) == ""
