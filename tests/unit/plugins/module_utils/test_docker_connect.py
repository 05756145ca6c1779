# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Engine connection options (community.docker's names and DOCKER_* variables) and the one-line
errors, on error texts recorded from docker SDK 7.2 / urllib3 2 against dockerd 20.10 --tlsverify."""

from __future__ import annotations

import pytest

from ansible_collections.etcd_wrapper.ops.plugins.module_utils._docker import (
    EngineError,
    connect_params,
    engine_error,
    tls_problem,
)

FETCH = "Error while fetching server API version: "
POOL = "HTTPSConnectionPool(host='127.0.0.1', port=23760): Max retries exceeded with url: /version "
WRONG_CA = FETCH + POOL + ("(Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate "
                           "verify failed: unable to get local issuer certificate (_ssl.c:1006)')))")
MISMATCH = (FETCH + "HTTPSConnectionPool(host='127.0.0.2', port=23760): Max retries exceeded with url: /version "
            "(Caused by SSLError(CertificateError(\"hostname '127.0.0.2' doesn't match either of 'localhost', "
            "'engine.etcdops.test', '127.0.0.1'\")))")
NO_CLIENT_CERT = FETCH + POOL + ("(Caused by SSLError(SSLError(1, '[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad "
                                 "certificate (_ssl.c:2580)')))")
OTHER_CA_CLIENT_CERT = FETCH + POOL + "(Caused by SSLError(SSLEOFError(8, 'EOF occurred in violation of protocol (_ssl.c:2427)')))"
PLAIN_TO_TLS = (FETCH + "400 Client Error for http://127.0.0.1:23760/version: Bad Request "
                "(\"Client sent an HTTP request to an HTTPS server.\")")


def params(**over):
    base = dict(docker_host="unix:///var/run/docker.sock", tls=False, validate_certs=False, ca_path=None,
                client_cert=None, client_key=None, tls_hostname=None, api_version="auto", timeout=600)
    base.update(over)
    return base


@pytest.fixture()
def certs(tmp_path):
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    return tmp_path


# ---------------------------------------------------------------- option resolution


def test_no_tls_keeps_the_host_and_ignores_cert_options(certs):
    conn = connect_params(params(docker_host="tcp://engine:2375", ca_path=str(certs / "ca.pem")),
                          environ={"DOCKER_CERT_PATH": str(certs)})
    assert conn["base_url"] == "tcp://engine:2375" and conn["tls"] is False
    assert conn["ca_path"] is conn["client_cert"] is conn["client_key"] is None


@pytest.mark.parametrize("option", ["tls", "validate_certs"])
def test_tcp_becomes_https_with_tls(option):
    conn = connect_params(params(docker_host="tcp://engine:2376", **{option: True}), environ={})
    assert conn["base_url"] == "https://engine:2376" and conn["tls"] is True
    assert conn["verify"] is (option == "validate_certs")
    # only the scheme of tcp:// hosts changes
    assert connect_params(params(docker_host="unix:///run/x.sock", tls=True), environ={})["base_url"] == "unix:///run/x.sock"


def test_docker_cert_path_fills_what_is_not_given(certs, tmp_path_factory):
    own_ca = tmp_path_factory.mktemp("own") / "my-ca.pem"
    own_ca.write_text("x")
    conn = connect_params(params(docker_host="tcp://engine:2376", validate_certs=True),
                          environ={"DOCKER_CERT_PATH": str(certs)})
    assert (conn["ca_path"], conn["client_cert"], conn["client_key"]) == \
        (str(certs / "ca.pem"), str(certs / "cert.pem"), str(certs / "key.pem"))
    given = connect_params(params(docker_host="tcp://engine:2376", validate_certs=True, ca_path=str(own_ca)),
                           environ={"DOCKER_CERT_PATH": str(certs)})
    assert given["ca_path"] == str(own_ca) and given["client_cert"] == str(certs / "cert.pem")


def test_tls_without_verification_uses_no_ca_but_the_client_certificate(certs):
    conn = connect_params(params(docker_host="tcp://engine:2376", tls=True), environ={"DOCKER_CERT_PATH": str(certs)})
    assert conn["verify"] is False and conn["ca_path"] is None and conn["tls_hostname"] is None
    assert conn["client_cert"] == str(certs / "cert.pem")


def test_hostname_checked_is_tls_hostname_else_the_host():
    assert connect_params(params(docker_host="tcp://10.0.0.5:2376", validate_certs=True), environ={})["tls_hostname"] == "10.0.0.5"
    conn = connect_params(params(docker_host="tcp://10.0.0.5:2376", validate_certs=True, tls_hostname="engine.example"),
                          environ={})
    assert conn["tls_hostname"] == "engine.example" and conn["ca_path"] is None  # the system CAs


def test_missing_certificate_files_name_the_option_and_origin(tmp_path, certs):
    with pytest.raises(EngineError) as exc:
        connect_params(params(docker_host="tcp://e:2376", validate_certs=True), environ={"DOCKER_CERT_PATH": str(tmp_path / "none")})
    assert str(exc.value) == f"TLS parameter error: ca_path {tmp_path}/none/ca.pem (from DOCKER_CERT_PATH) does not exist"
    with pytest.raises(EngineError) as exc:
        connect_params(params(docker_host="tcp://e:2376", tls=True, client_cert=str(tmp_path / "c.pem"),
                              client_key=str(certs / "key.pem")), environ={})
    assert str(exc.value) == f"TLS parameter error: client_cert {tmp_path}/c.pem does not exist"


@pytest.mark.parametrize("version, message", [
    ("auto", None), ("1.41", None), ("1.24", None),
    ("latest", "api_version must be 'auto' or a Docker API version like 1.41, not 'latest'"),
    ("1.41.0", "api_version must be 'auto' or a Docker API version like 1.41, not '1.41.0'"),
    ("1.23", "api_version 1.23 is older than 1.24, the oldest the Docker SDK for Python 7 speaks"),
])
def test_api_version(version, message):
    if message is None:
        assert connect_params(params(api_version=version), environ={})["api_version"] == version
    else:
        with pytest.raises(EngineError) as exc:
            connect_params(params(api_version=version), environ={})
        assert str(exc.value) == message


# ---------------------------------------------------------------- error classification


def test_wrong_ca():
    assert tls_problem(WRONG_CA, {"ca_path": "/certs/ca.pem"}) == (
        "TLS certificate verify failed (unable to get local issuer certificate) against /certs/ca.pem: "
        "set ca_path to the CA that signed the engine's certificate")
    assert "against the system CAs" in tls_problem(WRONG_CA, {})


def test_hostname_mismatch_names_the_certificate_names():
    assert tls_problem(MISMATCH, {}) == (
        "the engine's TLS certificate is not valid for host name '127.0.0.2' "
        "(it names 'localhost', 'engine.etcdops.test', '127.0.0.1'): set tls_hostname to a name in the certificate")
    single = "SSLError(CertificateError(\"hostname 'a.example' doesn't match 'b.example'\"))"
    assert "host name 'a.example' (it names 'b.example')" in tls_problem(single, {})
    # OpenSSL's own check (no assert_hostname) says no names: still a mismatch, not a CA problem
    openssl = "certificate verify failed: IP address mismatch, certificate is not valid for '127.0.0.2'. (_ssl.c:1006)"
    assert tls_problem(openssl, {"tls_hostname": "127.0.0.2"}) == (
        "the engine's TLS certificate is not valid for host name '127.0.0.2': set tls_hostname to a name in the certificate")


def test_client_certificate_refused():
    assert tls_problem(NO_CLIENT_CERT, {}) == (
        "the engine refused the TLS client certificate (no client_cert): set client_cert and client_key to a "
        "certificate signed by the CA the engine trusts (dockerd --tlscacert)")
    assert tls_problem(OTHER_CA_CLIENT_CERT, {"client_cert": "/c/cert.pem"}).startswith(
        "the engine closed the TLS connection, most likely refusing the client certificate (client_cert /c/cert.pem): ")
    assert "refused the TLS client certificate" in tls_problem("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert "
                                                               "certificate required (_ssl.c:2580)", {})


def test_plain_http_and_not_tls():
    assert tls_problem(PLAIN_TO_TLS, {}) == "the engine expects TLS: set validate_certs (or tls) and the certificate options"
    assert tls_problem("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", {}).startswith(
        "the engine does not answer TLS there")
    assert tls_problem(FETCH + "('Connection aborted.', ConnectionRefusedError(111, 'Connection refused'))", {}) is None


def test_engine_error_is_one_line():
    p = params(docker_host="tcp://127.0.0.1:23760", validate_certs=True)
    msg = str(engine_error(Exception(WRONG_CA + "\nmore"), p, {"ca_path": "/ca.pem"}))
    assert msg.startswith("cannot reach the container engine at tcp://127.0.0.1:23760: TLS certificate verify failed ")
    assert "\n" not in msg and "HTTPSConnectionPool" not in msg
    refused = str(engine_error(Exception(FETCH + "('Connection aborted.', ConnectionRefusedError(111, 'x'))"), p, {}))
    assert refused == ("cannot reach the container engine at tcp://127.0.0.1:23760: connection refused "
                       "(is Docker Engine or 'podman system service' running there?)")
