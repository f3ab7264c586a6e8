"""A small OpenID Connect provider for the tests, on loopback: discovery, keys, authorization code flow.

It signs ID tokens with its own RSA key (joserfc) and signs in whoever the test says (``person``),
without a page. ``fault`` makes the next ID token wrong the way a test needs: ``tampered`` (a claim
changed after signing), ``wrong_audience``, ``expired``, or ``missing:<claim>``.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server

from .conftest import SERVER_POLL_S

CLIENT_ID = "samverkan"
CLIENT_SECRET = "provider-secret-1"  # noqa: S105  (the test provider's client secret)


class Provider:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key-1", "use": "sig", "alg": "RS256"})
        self.person: dict[str, Any] = {}
        self.fault: str | None = None
        self._codes: dict[str, dict[str, Any]] = {}
        self.app = self._app()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": SERVER_POLL_S},
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _app(self) -> Flask:
        app = Flask(__name__)

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(issuer=self.url, authorization_endpoint=f"{self.url}/authorize",
                           token_endpoint=f"{self.url}/token", jwks_uri=f"{self.url}/jwks",
                           response_types_supported=["code"], subject_types_supported=["public"],
                           id_token_signing_alg_values_supported=["RS256"],
                           token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"])

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify(KeySet([self.key]).as_dict(private=False))

        @app.get("/authorize")
        def authorize() -> Any:
            if request.args.get("client_id") != CLIENT_ID or request.args.get("response_type") != "code":
                abort(400)
            code = secrets.token_urlsafe(16)
            self._codes[code] = {"nonce": request.args.get("nonce"), "person": dict(self.person),
                                 "fault": self.fault, "redirect_uri": request.args["redirect_uri"]}
            answer = urlencode({"code": code, "state": request.args["state"]})
            return redirect(f"{request.args['redirect_uri']}?{answer}")

        @app.post("/token")
        def token() -> Any:
            client_id, secret = _client_credentials()
            grant = self._codes.pop(request.form.get("code", ""), None)
            if client_id != CLIENT_ID or secret != CLIENT_SECRET or grant is None:
                return jsonify(error="invalid_grant"), 400
            return jsonify(access_token=secrets.token_urlsafe(16), token_type="Bearer", expires_in=300,
                           id_token=self._id_token(grant))

        return app

    def _id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        fault = grant["fault"] or ""
        claims = {"iss": self.url, "sub": grant["person"].get("preferred_username", "x"),
                  "aud": "en-annan-tjanst" if fault == "wrong_audience" else CLIENT_ID,
                  "iat": now, "exp": now - 3600 if fault == "expired" else now + 300,
                  "nonce": grant["nonce"], **grant["person"]}
        if fault.startswith("missing:"):
            claims.pop(fault.split(":", 1)[1], None)
        signed = jwt.encode({"alg": "RS256", "kid": "test-key-1"}, claims, self.key)
        if fault == "tampered":  # someone adds a group on the way; the signature no longer matches
            header, _, signature = signed.split(".")
            claims["groups"] = [*claims.get("groups", []), "SOC-Admin"]
            payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
            signed = f"{header}.{payload}.{signature}"
        return signed


def _client_credentials() -> tuple[str | None, str | None]:
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.username, request.authorization.password
    return request.form.get("client_id"), request.form.get("client_secret")
