"""How services connect to NATS: servers from NATS_URL, credentials and TLS from the settings. The
connections themselves are tested against a real nats-server in tests/integration/test_security.py."""

import nkeys
import pytest
from faststream.nats.security import NatsCredentials, NatsNKey

from shared import bus
from shared.config import ConfigError, Settings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nats://a:4222", ["nats://a:4222"]),
        ("nats://a:4222,nats://b:4222", ["nats://a:4222", "nats://b:4222"]),
        (" tls://a:4222 , tls://b:4222 ,", ["tls://a:4222", "tls://b:4222"]),
    ],
)
def test_nats_url_may_list_several_servers(url, expected):
    assert bus.servers(url) == expected
    assert bus.connect_options(Settings(nats_url=url)) == {"servers": expected}


def test_the_login_of_nats_url_is_the_connection_s_so_every_cluster_node_gets_it():
    options = bus.connect_options(Settings(nats_url="nats://a:4222,nats://gw:s3cret@b:4222"))
    assert (options["user"], options["password"]) == ("gw", "s3cret")
    assert options["servers"] == ["nats://a:4222", "nats://b:4222"]


def test_a_creds_file_or_an_nkey_seed_authenticates(tmp_path):
    seed = tmp_path / "user.nk"
    seed.write_bytes(nkeys.encode_seed(bytes(32), nkeys.PREFIX_BYTE_USER))
    assert isinstance(bus.security(Settings(nats_nkey_seed=seed)), NatsNKey)
    assert bus.connect_options(Settings(nats_nkey_seed=seed))["nkeys_seed"] == str(seed)

    creds = tmp_path / "user.creds"
    assert isinstance(bus.security(Settings(nats_creds=creds)), NatsCredentials)
    assert bus.connect_options(Settings(nats_creds=creds))["user_credentials"] == creds


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"nats_creds": "a.creds", "nats_nkey_seed": "a.nk"}, "one way"),
        ({"nats_creds": "a.creds", "nats_url": "nats://gw:pw@a:4222"}, "one way"),
        ({"nats_tls_key": "client.key"}, "NATS_TLS_KEY is set without NATS_TLS_CERT"),
    ],
)
def test_ambiguous_or_incomplete_credentials_stop_the_start(settings, problem):
    with pytest.raises(ConfigError, match=problem):
        bus.security(Settings(**settings))


def test_a_tls_file_that_is_not_there_stops_the_start(tmp_path):
    with pytest.raises(FileNotFoundError):
        bus.security(Settings(nats_tls_ca=tmp_path / "missing-ca.pem"))
