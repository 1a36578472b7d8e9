"""An SMTP server for Gatehouse's tests: aiosmtpd (PyPI) writing every accepted message to a
Maildir, optionally with STARTTLS or implicit TLS, and optionally requiring AUTH.

    smtp_sink.py PORT MAILDIR [--starttls CERT KEY | --smtps CERT KEY] [--auth USER:PASSWORD]

Prints "ready" once it accepts connections.
"""

import argparse
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("maildir")
parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
parser.add_argument("--smtps", nargs=2, metavar=("CERT", "KEY"))
parser.add_argument("--auth")
args = parser.parse_args()


def context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


options = {}
if args.starttls:
    options.update(tls_context=context(*args.starttls), require_starttls=True)
if args.smtps:
    options.update(ssl_context=context(*args.smtps))
if args.auth:
    user, password = args.auth.encode().split(b":", 1)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == user and auth_data.password == password
        return AuthResult(success=ok)

    options.update(authenticator=authenticator, auth_required=True, auth_require_tls=bool(args.starttls or args.smtps))

controller = Controller(Mailbox(args.maildir), hostname="127.0.0.1", port=args.port, **options)
controller.start()
print("ready", flush=True)
threading.Event().wait()
