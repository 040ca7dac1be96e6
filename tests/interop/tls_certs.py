"""Certificates for the TLS tests, made with the openssl command in a temporary directory:
a CA, a server certificate for localhost and 127.0.0.1, a client certificate, and a second CA
with a server certificate no client trusts."""

import os
import shutil
import subprocess
import tempfile


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _ca(d, name, subject):
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
             "-out", name + ".pem", "-days", "2", "-subj", subject, cwd=d)


def _signed(d, name, ca, subject, ext, key_args=()):
    _openssl("req", "-newkey", "rsa:2048", "-keyout", name + ".key", "-out", name + ".csr",
             "-subj", subject, *(key_args or ("-nodes",)), cwd=d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write(ext)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
             "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext",
             cwd=d)


class Certs:
    """Paths: ca, server_cert, server_key, client_cert, client_key, rogue_ca, rogue_cert,
    rogue_key, locked_key (server_key's twin encrypted with PASSWORD)."""

    PASSWORD = "s3cret"
    CLIENT_SANS = ("DNS:client.example", "email:client@example.com", "DNS:second.example",
                   "URI:spiffe://warren/client")

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="warren-tls.")
        d = self.dir
        server_ext = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
        _ca(d, "ca", "/CN=Warren test CA")
        _signed(d, "server", "ca", "/CN=localhost", server_ext)
        _signed(d, "client", "ca", "/CN=warren-client/O=Warren tests",
                "extendedKeyUsage=clientAuth\nsubjectAltName=" + ",".join(self.CLIENT_SANS) + "\n")
        _ca(d, "rogue_ca", "/CN=Nobody trusts this CA")
        _signed(d, "rogue", "rogue_ca", "/CN=localhost", server_ext)
        _openssl("pkey", "-in", "server.key", "-out", "locked.key", "-aes256",
                 "-passout", "pass:" + self.PASSWORD, cwd=d)
        p = lambda name: os.path.join(d, name)
        self.ca, self.server_cert, self.server_key = p("ca.pem"), p("server.pem"), p("server.key")
        self.client_cert, self.client_key = p("client.pem"), p("client.key")
        self.rogue_ca, self.rogue_cert, self.rogue_key = p("rogue_ca.pem"), p("rogue.pem"), p("rogue.key")
        self.locked_key = p("locked.key")

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)
