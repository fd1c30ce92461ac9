"""server.tls_cert / server.tls_key: the gateway serves HTTPS (TLS 1.2+), WHEP included, with a
self-signed certificate made here; a missing or half-given pair is a config error naming the key."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.config import CameraConfig, ServerConfig
from core.configfile import load_settings
from core.errors import ConfigError
from gateway.http.tls import server_context
from tests.gatewayutil import make_settings, running_gateway
from tests.test_whep import Viewer
from tests.test_whep_ice import FRAG, fragment, without_candidates

CAMERAS = [CameraConfig(id="lobby", source="demo://pattern", enabled=False)]


def self_signed(folder: Path, san: x509.GeneralName | None = None) -> tuple[Path, Path]:
    """A certificate for `san` (default: 127.0.0.1) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pantau-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([san or x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_https_serves_the_api_and_whep(tmp_path: Path, db_url: str) -> None:
    cert, key = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    settings = make_settings(tmp_path, db_url, CAMERAS, server={"tls_cert": cert, "tls_key": key})
    async with running_gateway(settings, tls=trust) as client:
        assert client.base.startswith("https://")
        admin = await client.sign_in("admin", client.admin_password())
        assert (await client.get_json("/health"))["status"]
        viewer = Viewer()
        try:
            offer = await viewer.offer()
            async with client.http.post(client.url("/whep/live/lobby"), data=without_candidates(offer),
                                        headers={"Content-Type": "application/sdp",
                                                 "Authorization": f"Bearer {admin}"}) as resp:
                assert resp.status == 201, await resp.text()
                location = resp.headers["Location"]
            line = next(x for x in offer.splitlines() if x.startswith("a=candidate:"))
            async with client.http.patch(client.url(location), data=fragment(offer, line), headers=dict(FRAG)) as resp:
                assert resp.status == 204, await resp.text()
            async with client.http.delete(client.url(location), headers={"Authorization": f"Bearer {admin}"}) as resp:
                assert resp.status == 200
        finally:
            await viewer.close()
        # Plain HTTP on the same port is no answer.
        async with aiohttp.ClientSession() as plain:
            with pytest.raises(aiohttp.ClientError):
                async with plain.get(f"http://127.0.0.1:{client.gateway.port}/health") as resp:
                    await resp.read()


def test_the_context_asks_for_tls_1_2(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    context = server_context(ServerConfig(tls_cert=cert, tls_key=key))
    assert context is not None and context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert server_context(ServerConfig()) is None


@pytest.mark.parametrize(("server", "says"), [
    ("tls_cert: {cert}\n", "server.tls_cert is set but server.tls_key is not"),
    ("tls_key: {key}\n", "server.tls_key is set but server.tls_cert is not"),
    ("tls_cert: {cert}\n  tls_key: {missing}\n", "server.tls_key '{missing}' cannot be read"),
    ("tls_cert: {missing}\n  tls_key: {key}\n", "server.tls_cert '{missing}' cannot be read"),
])
def test_config_errors_name_the_key(tmp_path: Path, server: str, says: str) -> None:
    cert, key = self_signed(tmp_path)
    names = {"cert": cert, "key": key, "missing": tmp_path / "missing.pem"}
    path = tmp_path / "pantau.yaml"
    path.write_text("server:\n  " + server.format(**names))
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    assert says.format(**names) in str(raised.value), raised.value.problems


def test_a_key_of_another_certificate_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    cert, _ = self_signed(tmp_path / "one")
    _, other_key = self_signed(tmp_path / "two")
    with pytest.raises(ConfigError, match="server.tls_cert .* server.tls_key .*not a PEM certificate and its private key"):
        server_context(ServerConfig(tls_cert=cert, tls_key=other_key))
