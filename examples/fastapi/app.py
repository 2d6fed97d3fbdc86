"""A FastAPI service behind the edgeauth edge that trusts no header: it verifies the caller's
JWT itself, against the origin's published keys.

The edge forwards every authenticated request with a JWT for the caller in `x-edgeauth-jwt`
(the token the request presented, or one the origin minted for the session cookie); a client
that reaches this service directly can send its own JWT as `Authorization: Bearer`. Either
way the token is verified here: EdDSA only, the signature against the keys at
`EDGEAUTH_JWKS_URL` (fetched and cached by PyJWT's JWKS client, refetched for an unknown
`kid`), the issuer and the audience, the expiry. Nothing else about the request is believed.

    EDGEAUTH_JWKS_URL=http://localhost:3000/api/auth/jwks \
    EDGEAUTH_ISSUER=http://localhost:3000 EDGEAUTH_AUDIENCE=http://localhost:3000 \
    uvicorn app:app --port 8000
"""

import os
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException

JWKS_URL = os.environ["EDGEAUTH_JWKS_URL"]
ISSUER = os.environ["EDGEAUTH_ISSUER"]
AUDIENCE = os.environ.get("EDGEAUTH_AUDIENCE", ISSUER)

# One client per process: it caches the key set, and fetches it again when a token names a
# key it does not know (a rotation), at most once per lookup.
jwks = jwt.PyJWKClient(JWKS_URL, cache_keys=True, lifespan=300, timeout=5)

app = FastAPI(title="edgeauth FastAPI example")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status_code=401,
        detail={"code": "UNAUTHORIZED", "message": message},
        headers={"WWW-Authenticate": 'Bearer realm="example"'},
    )


def verified_user(
    x_edgeauth_jwt: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """The claims of the caller's verified JWT (Better Auth's JWT plugin format: the user's
    fields, `sub` = the user id, `sid` = the session id), or 401."""
    token = x_edgeauth_jwt
    if token is None and authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value:
            token = value.strip()
    if not token:
        raise _unauthorized("Authentication required")
    try:
        key = jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=["EdDSA"],
            issuer=ISSUER,
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.PyJWKClientConnectionError:
        # The keys could not be fetched: nothing can be verified, and that is not the
        # caller's fault.
        raise HTTPException(status_code=503, detail={"code": "UNAVAILABLE", "message": "keys unavailable"})
    except (jwt.PyJWTError, jwt.PyJWKClientError):
        raise _unauthorized("Invalid or expired credentials")


User = Annotated[dict[str, Any], Depends(verified_user)]


@app.get("/health")
def health() -> dict[str, bool]:
    return {"ok": True}


@app.get("/app/me")
def me(user: User) -> dict[str, Any]:
    """Who the verified token says the caller is."""
    return {
        "backend": "fastapi",
        "id": user["sub"],
        "email": user.get("email"),
        "name": user.get("name"),
        "sessionId": user.get("sid"),
    }
