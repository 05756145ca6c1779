"""A small CA and etcd server/peer/client certificates, made with the openssl CLI."""

from __future__ import annotations

from pathlib import Path

from . import procs


# EC P-256: etcd, Go and Python all take it, and key generation is ~50x faster than RSA 2048
KEY_ARGS = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")


def _openssl(*args: str) -> None:
    procs.run(["openssl", *args])


def ca(directory: Path, name: str = "etcdops-test-ca") -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    key, crt = directory / "ca.key", directory / "ca.crt"
    if not crt.exists():
        _openssl("req", "-x509", *KEY_ARGS, "-nodes", "-keyout", str(key), "-out", str(crt),
                 "-days", "3650", "-subj", f"/CN={name}",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return crt, key


def issue(directory: Path, ca_crt: Path, ca_key: Path, cn: str, usage: str,
          dns: list[str] = (), ips: list[str] = (), org: str | None = None) -> tuple[Path, Path]:
    """Issue tls.crt/tls.key in directory; usage is 'server', 'client' or 'server,client'; org is
    the subject's O (a Kubernetes group for a client certificate)."""
    directory.mkdir(parents=True, exist_ok=True)
    key, csr, crt = directory / "tls.key", directory / "tls.csr", directory / "tls.crt"
    ext = directory / "ext.cnf"
    ext_usage = ",".join({"server": "serverAuth", "client": "clientAuth"}[u] for u in usage.split(","))
    san = ",".join([f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips])
    ext.write_text(f"extendedKeyUsage={ext_usage}\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                   + (f"subjectAltName={san}\n" if san else ""))
    _openssl("req", *KEY_ARGS, "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}" + (f"/O={org}" if org else ""))
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
             "-out", str(crt), "-days", "3650", "-extfile", str(ext))
    csr.unlink()
    ext.unlink()
    return crt, key
