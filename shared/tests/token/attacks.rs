//! The attack catalogue of `security.md` section 3, one row at a time. Tokens are signed with
//! the real key (see `support::forge`) unless the row is about the signature, so each refusal
//! comes from the rule under test.

use edgeauth_token::{ClaimError, Error, Validation};

use crate::support::*;

#[track_caller]
fn refused(token: &str, expected: Error) {
    assert_eq!(verify(token).unwrap_err(), expected, "token: {token}");
}

#[track_caller]
fn refused_malformed(token: &str) {
    match verify(token) {
        Err(Error::Malformed(_)) => {}
        other => panic!("expected Malformed, got {other:?} for {token:?}"),
    }
}

#[test]
fn the_genuine_token_verifies() {
    let claims = verify(&token()).unwrap();
    assert_eq!(claims.subject(), "0YnKQty8O96CSthmLIeHvNJnuQmeit3f");
    assert_eq!(claims.get_str("email"), Some("ada@example.com"));
    assert_eq!(claims.key_id(), KID);
    // Better Auth's claim order is kept.
    let names: Vec<_> = claims.as_map().keys().cloned().collect();
    assert_eq!(
        names,
        [
            "iat",
            "name",
            "email",
            "emailVerified",
            "image",
            "createdAt",
            "updatedAt",
            "id",
            "sub",
            "exp",
            "iss",
            "aud"
        ]
    );
}

#[test]
fn alg_is_exactly_eddsa() {
    for alg in [
        r#""none""#,
        r#""NONE""#,
        r#""None""#,
        r#""nOnE""#,
        r#""EdDSA ""#,
        r#"" EdDSA""#,
        r#""eddsa""#,
        r#""EDDSA""#,
        r#""Ed25519""#,
        r#""HS256""#,
        r#""ES256""#,
        r#""RS256""#,
        r#""PS256""#,
        "null",
        r#"["EdDSA"]"#,
        "1",
        r#"{"alg":"EdDSA"}"#,
        r#""EdDSA\u0000""#,
    ] {
        let header = format!(r#"{{"alg":{alg},"kid":"{KID}"}}"#);
        refused(
            &forge(&header, &payload_with("")),
            Error::UnsupportedAlgorithm,
        );
    }
    refused(
        &forge(&format!(r#"{{"kid":"{KID}"}}"#), &payload_with("")),
        Error::UnsupportedAlgorithm,
    );
    // `none` with an empty or a stale signature.
    let none = format!(r#"{{"alg":"none","kid":"{KID}"}}"#);
    let body = format!(
        "{}.{}",
        b64(none.as_bytes()),
        b64(payload_with("").as_bytes())
    );
    refused(&format!("{body}."), Error::UnsupportedAlgorithm);
    let stale = token().rsplit('.').next().unwrap().to_string();
    refused(&format!("{body}.{stale}"), Error::UnsupportedAlgorithm);
}

#[test]
fn key_source_and_extension_headers_are_refused() {
    let attacker_jwk = serde_json::to_string(&other_key().public_jwk()).unwrap();
    for (member, name) in [
        (format!(r#""jwk":{attacker_jwk}"#), "jwk"),
        (r#""jku":"https://169.254.169.254/jwks""#.into(), "jku"),
        (r#""x5u":"https://evil.example/cert.pem""#.into(), "x5u"),
        (r#""x5c":["MIIB"]"#.into(), "x5c"),
        (r#""x5t":"abc""#.into(), "x5t"),
        (r#""crit":["exp"]"#.into(), "crit"),
        (r#""crit":[]"#.into(), "crit"),
        (r#""crit":["alg"]"#.into(), "crit"),
        (r#""crit":"b64""#.into(), "crit"),
        (r#""b64":false,"crit":["b64"]"#.into(), "b64"),
        (r#""zip":"DEF""#.into(), "zip"),
        (r#""enc":"A256GCM""#.into(), "enc"),
        (r#""cty":"JWT""#.into(), "cty"),
        (r#""foo":"bar""#.into(), "unrecognised parameter"),
    ] {
        let header = format!(r#"{{"alg":"EdDSA","kid":"{KID}",{member}}}"#);
        refused(
            &forge(&header, &payload_with("")),
            Error::ForbiddenHeader(name),
        );
    }
    // An embedded key signing the token is never used, even when it is the only key offered.
    let jwk = serde_json::to_string(&other_key().public_jwk()).unwrap();
    let header = format!(r#"{{"alg":"EdDSA","kid":"{KID}","jwk":{jwk}}}"#);
    refused(
        &forge_with(&other_key(), &header, &payload_with("")),
        Error::ForbiddenHeader("jwk"),
    );
}

#[test]
fn kid_is_an_exact_lookup() {
    for kid in [
        r#""../../dev/null""#.to_string(),
        r#""' OR '1'='1""#.into(),
        format!(r#""{}""#, KID.to_lowercase()),
        format!(r#""{KID} ""#),
        format!(r#""{}""#, &KID[..31]),
    ] {
        let header = format!(r#"{{"alg":"EdDSA","kid":{kid}}}"#);
        refused(&forge(&header, &payload_with("")), Error::UnknownKey);
    }
    for kid in [
        r#"{"$ne":null}"#.to_string(),
        "null".into(),
        "[]".into(),
        "1".into(),
        r#""""#.into(),
        format!(r#""{}""#, "k".repeat(257)),
    ] {
        let header = format!(r#"{{"alg":"EdDSA","kid":{kid}}}"#);
        refused_malformed(&forge(&header, &payload_with("")));
    }
    let long = format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, "k".repeat(10_000));
    assert!(matches!(
        verify(&forge(&long, &payload_with(""))),
        Err(Error::TooLarge { .. })
    ));
    // Signed by another key under our kid.
    refused(
        &forge_with(&other_key(), &header(), &payload_with("")),
        Error::InvalidSignature,
    );
}

#[test]
fn duplicate_members_are_refused() {
    let dup_alg = format!(r#"{{"alg":"EdDSA","kid":"{KID}","alg":"none"}}"#);
    refused_malformed(&forge(&dup_alg, &payload_with("")));
    let dup_alg_same = format!(r#"{{"alg":"EdDSA","kid":"{KID}","alg":"EdDSA"}}"#);
    refused_malformed(&forge(&dup_alg_same, &payload_with("")));
    for extra in [
        r#","sub":"admin""#,
        r#","exp":99999999999"#,
        r#","aud":"x""#,
        r#","iss":"x""#,
    ] {
        refused_malformed(&forge(&header(), &payload_with(extra)));
    }
    refused_malformed(&forge(
        &header(),
        &payload_with(r#","user":{"role":"a","role":"admin"}"#),
    ));
}

#[test]
fn time_claims_of_the_wrong_type_never_count_as_absent() {
    let exp = NOW + 900;
    for value in [
        r#""1800000900""#,
        "true",
        "null",
        "{}",
        "[1800000900]",
        "1e20",
        "-1",
        "100000000000000000000",
    ] {
        for name in ["exp", "nbf", "iat"] {
            let mut payload: serde_json::Value = serde_json::from_str(&payload_with("")).unwrap();
            payload[name] = serde_json::from_str(value).unwrap();
            refused(
                &forge(&header(), &payload.to_string()),
                Error::Claim(ClaimError::Invalid(name)),
            );
        }
    }
    // Not representable as a finite number: not JSON this verifier accepts.
    let huge = format!(r#"{{"sub":"u1","exp":1e309,"iss":"{ISSUER}","aud":"{ISSUER}"}}"#);
    refused_malformed(&forge(&header(), &huge));
    let nan = format!(r#"{{"sub":"u1","exp":NaN,"iss":"{ISSUER}","aud":"{ISSUER}"}}"#);
    refused_malformed(&forge(&header(), &nan));
    // A non-integer NumericDate is accepted (RFC 7519), rounded toward expiry.
    let frac = format!(r#"{{"sub":"u1","exp":{exp}.5,"iss":"{ISSUER}","aud":"{ISSUER}"}}"#);
    assert_eq!(verify(&forge(&header(), &frac)).unwrap().expires_at(), exp);
    let zero = format!(r#"{{"sub":"u1","exp":0,"iss":"{ISSUER}","aud":"{ISSUER}"}}"#);
    refused(&forge(&header(), &zero), Error::Claim(ClaimError::Expired));
}

#[test]
fn validity_window_is_enforced() {
    let leeway = rules().leeway;
    let at = |extra: &str| forge(&header(), &payload_with(extra));
    let expired = format!(
        r#"{{"sub":"u1","exp":{},"iss":"{ISSUER}","aud":"{ISSUER}"}}"#,
        NOW - leeway
    );
    refused(
        &forge(&header(), &expired),
        Error::Claim(ClaimError::Expired),
    );
    let missing_exp = format!(r#"{{"sub":"u1","iss":"{ISSUER}","aud":"{ISSUER}"}}"#);
    refused(
        &forge(&header(), &missing_exp),
        Error::Claim(ClaimError::Missing("exp")),
    );
    refused(
        &at(&format!(r#","nbf":{}"#, NOW + leeway + 1)),
        Error::Claim(ClaimError::NotYetValid),
    );
    assert!(verify(&at(&format!(r#","nbf":{}"#, NOW + leeway))).is_ok());
    let future_iat = format!(
        r#"{{"iat":{},"sub":"u1","exp":{},"iss":"{ISSUER}","aud":"{ISSUER}"}}"#,
        NOW + leeway + 1,
        NOW + 900
    );
    refused(
        &forge(&header(), &future_iat),
        Error::Claim(ClaimError::IssuedInFuture),
    );
    let long = format!(
        r#"{{"iat":{NOW},"sub":"u1","exp":{},"iss":"{ISSUER}","aud":"{ISSUER}"}}"#,
        NOW + 400 * 86_400
    );
    refused(
        &forge(&header(), &long),
        Error::Claim(ClaimError::LifetimeTooLong),
    );
}

#[test]
fn issuer_and_audience_tricks_are_refused() {
    for iss in [
        format!(r#"["{ISSUER}"]"#),
        format!(r#""{ISSUER}/""#),
        format!(r#""{}""#, ISSUER.to_uppercase()),
        format!(r#""{ISSUER}.evil.com""#),
        r#""https://auth.example""#.into(),
    ] {
        let payload = format!(
            r#"{{"sub":"u1","exp":{},"iss":{iss},"aud":"{ISSUER}"}}"#,
            NOW + 60
        );
        refused(
            &forge(&header(), &payload),
            Error::Claim(ClaimError::Issuer),
        );
    }
    for (aud, err) in [
        (r#""""#.to_string(), ClaimError::Audience),
        ("[]".into(), ClaimError::Audience),
        (r#"["https://other.example"]"#.into(), ClaimError::Audience),
        (format!(r#""{ISSUER}/""#), ClaimError::Audience),
        (format!(r#"[["{ISSUER}"]]"#), ClaimError::Invalid("aud")),
        (
            format!(r#"{{"aud":"{ISSUER}"}}"#),
            ClaimError::Invalid("aud"),
        ),
        ("null".into(), ClaimError::Invalid("aud")),
        (format!(r#"["{ISSUER}",1]"#), ClaimError::Invalid("aud")),
    ] {
        let payload = format!(
            r#"{{"sub":"u1","exp":{},"iss":"{ISSUER}","aud":{aud}}}"#,
            NOW + 60
        );
        refused(&forge(&header(), &payload), Error::Claim(err));
    }
    let many = format!(
        r#"{{"sub":"u1","exp":{},"iss":"{ISSUER}","aud":["x","{ISSUER}"]}}"#,
        NOW + 60
    );
    assert!(verify(&forge(&header(), &many)).is_ok());
}

#[test]
fn typ_is_checked_when_required() {
    let rules = Validation::new(ISSUER, ISSUER).with_typ("at+jwt");
    let check = |typ: &str| {
        let header = format!(r#"{{"alg":"EdDSA","kid":"{KID}"{typ}}}"#);
        edgeauth_token::verify(&forge(&header, &payload_with("")), &keys(), &rules, NOW)
    };
    assert!(check(r#","typ":"at+jwt""#).is_ok());
    assert!(check(r#","typ":"application/AT+JWT""#).is_ok());
    for typ in [r#","typ":"JWT""#, r#","typ":"refresh+jwt""#, ""] {
        assert_eq!(
            check(typ).unwrap_err(),
            Error::Claim(ClaimError::Type),
            "{typ}"
        );
    }
    assert!(matches!(check(r#","typ":1"#), Err(Error::Malformed(_))));
    // Without a typ rule, a typ is allowed but must still be a string.
    assert!(verify(&forge(
        &format!(r#"{{"alg":"EdDSA","kid":"{KID}","typ":"JWT"}}"#),
        &payload_with("")
    ))
    .is_ok());
    refused_malformed(&forge(
        &format!(r#"{{"alg":"EdDSA","kid":"{KID}","typ":null}}"#),
        &payload_with(""),
    ));
}

#[test]
fn compact_form_is_enforced() {
    let token = token();
    let mut parts = token.split('.');
    let (h, p, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    for bad in [
        String::new(),
        "..".into(),
        h.into(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}."),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}.{p}.{s}"),
        format!("{h}..{s}"),
        format!(".{p}.{s}"),
        format!("{h}.{p}."),
        format!("{h}.{p}.{s}="),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}.+{}", &s[1..]),
        format!("{h}.{p}.{}/", &s[..85]),
        format!(" {token}"),
        format!("{token} "),
        format!("{token}\n"),
        format!("{h}.{p}\r\n.{s}"),
        format!("{h}.{p}\u{a0}.{s}"),
        format!("{h}.{p}.{s}AA"),
        format!("{h}.{p}.{}", &s[..84]),
        format!(r#"{{"payload":"{p}","protected":"{h}","signature":"{s}"}}"#),
        format!(r#"{h}.{p}.{s}{{"payload":"x"}}"#),
    ] {
        refused_malformed(&bad);
    }
    // A JWE-shaped token (five segments, `enc`).
    let jwe = format!(
        "{}.AAAA.AAAA.AAAA.AAAA",
        b64(br#"{"alg":"dir","enc":"A256GCM"}"#)
    );
    refused_malformed(&jwe);
}

#[test]
fn non_canonical_base64url_is_refused() {
    // Set the unused low bits of each segment's last character: lenient decoders read the
    // same bytes, a canonical one refuses.
    let token = token();
    let segments: Vec<&str> = token.split('.').collect();
    for i in 0..3 {
        let seg = segments[i];
        if seg.len() % 4 == 0 {
            continue; // no unused bits in this segment
        }
        let last = seg.as_bytes()[seg.len() - 1];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let idx = alphabet.iter().position(|&c| c == last).unwrap();
        let bumped = alphabet[idx + 1] as char;
        let mut altered = segments.clone();
        let new_seg = format!("{}{bumped}", &seg[..seg.len() - 1]);
        altered[i] = &new_seg;
        let t = altered.join(".");
        assert!(verify(&t).is_err(), "segment {i}: {t}");
    }
}

#[test]
fn signature_attacks_are_refused() {
    let token = token();
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig_bytes: Vec<u8> =
        <base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(sig).unwrap();
    let with_sig = |bytes: &[u8]| format!("{input}.{}", b64(bytes));
    refused_malformed(&with_sig(&[0u8; 63]));
    refused_malformed(&with_sig(&[0u8; 65]));
    refused_malformed(&with_sig(&[0u8; 128]));
    refused(&with_sig(&[0u8; 64]), Error::InvalidSignature);
    for bit in [0, 7, 255, 256, 511] {
        let mut flipped = sig_bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        refused(&with_sig(&flipped), Error::InvalidSignature);
    }
    // Malleability: S + L verifies under a lenient check and must not here.
    let mut malleable = sig_bytes.clone();
    add_group_order(&mut malleable[32..]);
    refused(&with_sig(&malleable), Error::InvalidSignature);
    // Small-order R (the identity) with S = 0.
    let mut identity_r = [0u8; 64];
    identity_r[0] = 1;
    refused(&with_sig(&identity_r), Error::InvalidSignature);
    // A header re-encoded (same JSON, other bytes) under the original signature.
    let (h, p) = input.split_once('.').unwrap();
    let spaced = b64(format!(r#"{{"alg":"EdDSA", "kid":"{KID}"}}"#).as_bytes());
    assert_ne!(spaced, h);
    refused(&format!("{spaced}.{p}.{sig}"), Error::InvalidSignature);
    // A payload swapped in from another genuine token.
    let other = key().sign(&claims().insert("sub", "admin"));
    let other_payload = other.split('.').nth(1).unwrap();
    refused(
        &format!("{h}.{other_payload}.{sig}"),
        Error::InvalidSignature,
    );
}

/// Adds L = 2^252 + 27742317777372353535851937790883648493 to a little-endian scalar.
fn add_group_order(s: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = s[i] as u16 + L[i] as u16 + carry;
        s[i] = sum as u8;
        carry = sum >> 8;
    }
}

#[test]
fn payloads_that_are_not_claim_objects_are_refused() {
    for payload in [
        "[]".to_string(),
        r#""sub""#.into(),
        "42".into(),
        "null".into(),
        format!("\u{feff}{}", payload_with("")),
        format!("{} {{}}", payload_with("")),
        payload_with(","),
        format!("/*x*/{}", payload_with("")),
        payload_with(r#","note":"\ud800""#),
    ] {
        refused_malformed(&forge(&header(), &payload));
    }
    // UTF-16 and invalid UTF-8 bytes.
    let utf16: Vec<u8> = payload_with("")
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let input = format!("{}.{}", b64(header().as_bytes()), b64(&utf16));
    let t = format!("{input}.{}", b64(&key().sign_bytes(input.as_bytes())));
    refused_malformed(&t);
    let mut bad_utf8 = payload_with(r#","note":"x""#).into_bytes();
    let at = bad_utf8.len() - 3;
    bad_utf8[at] = 0xff;
    let input = format!("{}.{}", b64(header().as_bytes()), b64(&bad_utf8));
    let t = format!("{input}.{}", b64(&key().sign_bytes(input.as_bytes())));
    refused_malformed(&t);
    // NUL in `sub`.
    let nul = format!(
        r#"{{"sub":"u1\u0000admin","exp":{},"iss":"{ISSUER}","aud":"{ISSUER}"}}"#,
        NOW + 60
    );
    refused(
        &forge(&header(), &nul),
        Error::Claim(ClaimError::Invalid("sub")),
    );
    // Header that is not an object.
    refused_malformed(&forge(r#"["EdDSA"]"#, &payload_with("")));
    refused_malformed(&forge(r#""EdDSA""#, &payload_with("")));
}

#[test]
fn size_is_capped_before_decoding() {
    let big = "a".repeat(8 * 1024 + 1);
    assert_eq!(
        verify(&big).unwrap_err(),
        Error::TooLarge {
            len: 8193,
            max: 8192
        }
    );
    let dots = ".".repeat(50_000);
    assert!(matches!(verify(&dots), Err(Error::TooLarge { .. })));
    refused_malformed(&".".repeat(8_000));
    // Deep nesting within the size cap: refused by the parser's depth limit, no crash.
    let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let deep = payload_with(&format!(r#","deep":{nested}"#));
    refused_malformed(&forge(&header(), &deep));
    // The cap is configurable.
    let tight = Validation::new(ISSUER, ISSUER).with_max_token_len(100);
    assert!(matches!(
        edgeauth_token::verify(&token(), &keys(), &tight, NOW),
        Err(Error::TooLarge { .. })
    ));
}
