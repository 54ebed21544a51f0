//! A misbehaving OpenID provider for the ID-token checks the real one cannot fail: a wrong
//! issuer, a bad signature, an expired token, a wrong nonce, a key missing from the first JWKS
//! fetch. Built on [`FaultServer`]; tokens are RS256-signed with fixed test-only keys.
//!
//! ```ignore
//! let idp = FakeIdp::start(Fault::WrongIssuer);
//! home.global_env(&idp.sso_env());
//! // run `lmi login sso --no-browser`, then play the browser:
//! let callback = idp.authorize(&auth_url);   // the redirect to lmi's /callback
//! ```
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::fault::{FaultServer, Reply, Req};

/// Each fake provider gets its own client id: the keychain account is `client@issuer`, and a
/// later test whose provider reuses a port must not find an earlier test's session.
fn unique_client_id() -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("lmi-cli-{}-{n}", std::process::id())
}
pub const SUBJECT: &str = "frank";
pub const EMAIL: &str = "frank@fake.test";

/// What the provider gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: a well-formed login.
    None,
    /// The ID token's `iss` is another provider's.
    WrongIssuer,
    /// The ID token is signed with a key the JWKS does not hold, under the published key id.
    BadSignature,
    /// The ID token expired an hour ago.
    ExpiredIdToken,
    /// The ID token carries another nonce.
    NonceMismatch,
    /// The first JWKS answer lacks the signing key (a rotation); the second has it.
    KeyRotated,
    /// The ID token is for another client.
    WrongAudience,
    /// The ID token claims to be issued ten minutes from now.
    IssuedInTheFuture,
}

struct State {
    issuer: String,
    client_id: String,
    fault: Fault,
    nonce: Option<String>,
}

/// A running fake provider on `127.0.0.1:<ephemeral>`.
pub struct FakeIdp {
    server: FaultServer,
    state: Arc<Mutex<State>>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jwk(kid: &str, n: &str) -> serde_json::Value {
    json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": "AQAB"})
}

impl FakeIdp {
    pub fn start(fault: Fault) -> Self {
        let state = Arc::new(Mutex::new(State {
            issuer: String::new(),
            client_id: unique_client_id(),
            fault,
            nonce: None,
        }));
        let shared = state.clone();
        let server = FaultServer::start(move |req, n| handle(&shared, req, n));
        state.lock().unwrap().issuer = server.base();
        Self { server, state }
    }

    pub fn issuer(&self) -> String {
        self.server.base()
    }

    /// The client id this provider issues ID tokens for (its own; see `unique_client_id`).
    pub fn client_id(&self) -> String {
        self.state.lock().unwrap().client_id.clone()
    }

    /// Global `.env` lines for lmi's SSO against this provider.
    pub fn sso_env(&self) -> String {
        format!(
            "OAUTH_SSO_ISSUER={}\nOAUTH_SSO_CLIENT_ID={}\n",
            self.issuer(),
            self.client_id()
        )
    }

    /// Requests that reached `path`.
    pub fn count(&self, path: &str) -> usize {
        self.server.count(path)
    }

    /// Plays the browser at the authorization endpoint: remembers the nonce and returns the
    /// redirect to the app's callback (`code`, `state`, `iss`), as the provider would after a
    /// successful sign-in.
    pub fn authorize(&self, authorization_url: &str) -> url::Url {
        let url = url::Url::parse(authorization_url).unwrap();
        let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge_method"], "S256");
        assert!(q["code_challenge"].len() >= 43, "PKCE challenge: {q:?}");
        self.state.lock().unwrap().nonce = q.get("nonce").cloned();
        let mut cb = url::Url::parse(&q["redirect_uri"]).unwrap();
        cb.query_pairs_mut()
            .append_pair("code", "fake-code-1")
            .append_pair("state", &q["state"])
            .append_pair("iss", &self.issuer());
        cb
    }
}

fn handle(state: &Mutex<State>, req: &Req, n: usize) -> Reply {
    let st = state.lock().unwrap();
    let issuer = st.issuer.clone();
    match req.path() {
        "/.well-known/openid-configuration" => Reply::json(
            200,
            json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/auth"),
                "token_endpoint": format!("{issuer}/token"),
                "jwks_uri": format!("{issuer}/jwks"),
                "revocation_endpoint": format!("{issuer}/token/revocation"),
                "authorization_response_iss_parameter_supported": true,
                "code_challenge_methods_supported": ["S256"],
            }),
        ),
        "/jwks" => {
            let keys = if st.fault == Fault::KeyRotated && n == 1 {
                vec![jwk("key-b", KEY_B_N)]
            } else {
                vec![jwk("key-a", KEY_A_N)]
            };
            Reply::json(200, json!({ "keys": keys }))
        }
        "/token" => {
            let form = req.form();
            let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
            if !matches!(grant, "authorization_code" | "refresh_token") {
                return Reply::json(400, json!({"error": "unsupported_grant_type"}));
            }
            if grant == "authorization_code"
                && (form.get("code").map(String::as_str) != Some("fake-code-1")
                    || form.get("code_verifier").is_none_or(|v| v.len() < 43))
            {
                return Reply::json(400, json!({"error": "invalid_grant"}));
            }
            let now = now();
            let (iat, exp) = match st.fault {
                Fault::ExpiredIdToken => (now - 7200, now - 3600),
                Fault::IssuedInTheFuture => (now + 600, now + 900),
                _ => (now, now + 300),
            };
            let aud = if st.fault == Fault::WrongAudience {
                "another-client".to_owned()
            } else {
                st.client_id.clone()
            };
            let nonce = if st.fault == Fault::NonceMismatch {
                Some("not-the-nonce-lmi-sent".to_owned())
            } else {
                st.nonce.clone()
            };
            let iss = if st.fault == Fault::WrongIssuer {
                "https://evil.example".to_owned()
            } else {
                issuer.clone()
            };
            let mut claims = json!({
                "iss": iss, "sub": SUBJECT, "aud": aud, "iat": iat, "exp": exp,
                "email": EMAIL, "name": "Frank Fake",
            });
            if let Some(nonce) = nonce.filter(|_| grant == "authorization_code") {
                claims["nonce"] = json!(nonce);
            }
            let signing = if st.fault == Fault::BadSignature {
                KEY_B_DER_HEX
            } else {
                KEY_A_DER_HEX
            };
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some("key-a".to_owned());
            let key = EncodingKey::from_rsa_der(&hex::decode(signing).unwrap());
            let id_token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
            Reply::json(
                200,
                json!({
                    "access_token": format!("fake-access-{n}"),
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "refresh_token": format!("fake-refresh-{n}"),
                    "id_token": id_token,
                }),
            )
        }
        "/token/revocation" => Reply::status(200),
        _ => Reply::status(404),
    }
}

/// An ID token signed with the key [`jwks`] publishes (`kid` `key-a`, RS256).
pub fn sign_id_token(claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("key-a".to_owned());
    let key = EncodingKey::from_rsa_der(&hex::decode(KEY_A_DER_HEX).unwrap());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// An ID token signed with a key the JWKS does not hold, under the published key id.
pub fn sign_id_token_badly(claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("key-a".to_owned());
    let key = EncodingKey::from_rsa_der(&hex::decode(KEY_B_DER_HEX).unwrap());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// The JWK set holding the key [`sign_id_token`] signs with.
pub fn jwks() -> serde_json::Value {
    json!({ "keys": [jwk("key-a", KEY_A_N)] })
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    now()
}

/// Test-only RSA-2048 key A: PKCS#1 DER, hex.
const KEY_A_DER_HEX: &str = concat!(
    "308204a20201000282010100c7108f76b94b99fa541d63dc9c465091cbb51780ae36cbb1f6bb2e1bfd309173da7e6c67",
    "6cd3d7c77037df7f3fcde641864089dc508cfb75dc26512f3ef2f4157d0bfb5d1fb51fcc5b11b5349ffb8a1675d32d35",
    "a552804f013d9ae779c0b25675495dd9433236b654fa1ac9dfe1ef55eed9d9af3f594e869b74c4ec90b39ca3fb415e7b",
    "96c84787fc22b766c622456b5c5e1dc81f011cf37e18c85e82d33927178513ff27191f3b8b39a33556ff52ddf068129a",
    "735757824398df3cfe331cabc7bb20544c7dbc019e1e39c0b5b52cc52c8048e26963e1c2a305dc0316cac6055ebb353e",
    "d6127d7e748691397676136b483f1bc35275d0823ffc860c8ada3e170203010001028201000ce6034dbf92e8fec1ed87",
    "97775ecd00ad70e5fd760c61e57da5c2469900c923f71fe2f94ea16965685d8e7349d897175ed216bcba517047c2448f",
    "551ee09235443d7f039936dcc11a938aa8c6c6ff3b165661230d3bcbc992bc81a9870797e6a741e23d5e2fc640c93fcd",
    "759036ad11e5e0a2cccaaf88398ba024d46949e217d69299e243e6034c4544500a7f422ee6692b60a767c92b8f0e9a57",
    "a3c59fb451ae91eb1934be07f8e13792f3ab293936625160823384898c57265a3c5096c300ac91dab2e9bc941153286d",
    "5adc1d8e5f8411ca9b68b2ca5382d9837f70f14571165cde5199edf7d9f9e1d2e36656930f55de1eb12cc6c792a94af8",
    "250ce5df2102818100fcac7c6922e2b061668ef6bad9abceb89239bdd1e8ae6083decb810069dcf8b13758b652452b27",
    "a0c96c40aac5e73785a6a07f918d8de10722ab89a5ff7196c6de53b382b4137381a5378c7c85d983368233ecb6ffcb9d",
    "2d180d06ed880ca36138c80f88e095e6b07a11ef81d1910e0a34af4ebb0eccc2f1be9a900b301adce102818100c9af69",
    "3d2d7f55d8549d7857536b2692f47991704af75a7d4c15a6bb4082a0f40f09eedd35e4662c2724e0da8edec0d9c746ef",
    "cefe098aaf0d5a5dd6ba1637c4ce3e71fcb3f745761a220e84d06e9b8964cd25ee62bd8d7b097a7bfc5cb18339e866cb",
    "038f921fbec5bf9c20a596e5db0986e7c039c6c09d4385be6be01a41f70281801d63d6c8c7e5044d2007cb0d2ada801e",
    "19ec1b773a10666b9053ad7aa5d5ad1bb7eb5ab1b117f6f10ddcc89cd48e3378194c9bea0b441083aaf5b6fa16ff5861",
    "6364eb016dfec135b84900cf4f2660cbcb534cda706077b4d21259d6f1373f1dc4e408628c7503334dcf9e43446411f4",
    "fff1d03f93d61f6acd17df5f5dc6122102818056b66d27d974e2e2c4d6835400509460206e58229088b2c6263d34d753",
    "5016857825cc261db29a5f27614aaf8d37a670bba5fb1ae2cc156d57ef5f631fd4c79b7d150a0b1d11163345df18a0ef",
    "c06e6cef02e8e90a58f7084c35f632b563b8c8dfebba2348ca098e0b156bb9f997dc3185721417e87f547708fdeab614",
    "bf1557028180635b00d7e72062307c21a1624c67755471539e5d2e99f5f28e28471537530e0a4d423248cc3f03d3efbf",
    "4c00d24e80e444facb7e69a785f2465a6206ccfedbc38d87b6f64e660bac59c153476513d0b1b67f55abf430c5ffd170",
    "e4ff8a9909d89ae3a5685454326dbb09a61ceeb8144dcf843b088f5963e51cb8bf3dcf7be6dd",
);
/// Its public modulus, base64url (e = AQAB).
const KEY_A_N: &str = concat!(
    "xxCPdrlLmfpUHWPcnEZQkcu1F4CuNsux9rsuG_0wkXPafmxnbNPXx3A3338_zeZBhkCJ3FCM-3XcJlEvPvL0FX0L-",
    "10ftR_MWxG1NJ_7ihZ10y01pVKATwE9mud5wLJWdUld2UMyNrZU-",
    "hrJ3-HvVe7Z2a8_WU6Gm3TE7JCznKP7QV57lshHh_wit2bGIkVrXF4dyB8BHPN-",
    "GMhegtM5JxeFE_8nGR87izmjNVb_Ut3waBKac1dXgkOY3zz-Mxyrx7sgVEx9vAGeHjnAtbUsxSyASOJpY-",
    "HCowXcAxbKxgVeuzU-1hJ9fnSGkTl2dhNrSD8bw1J10II__IYMito-Fw",
);
/// Test-only RSA-2048 key B: PKCS#1 DER, hex.
const KEY_B_DER_HEX: &str = concat!(
    "308204a40201000282010100a8aebb5d8b50fdf06a4bb2346dbe728c19bce689de7fae75541e42ebad2d1b4161dd1619",
    "1b1d79acc0b894505fe99e26e13ffcfad7b40f97ad57c3bda3ed2d94bec77c5cf4bb6b6dd4f0cc3d2e260ffac4773b4f",
    "fbad254a900cdd1bc6e584f6593245c10a8ae3ff9c9c6dcfebdd9ffff23bc3c456c0003b323b9dadcffe876492ddb6d5",
    "6109898a9ade8806d4ffa676601499bf12852660844a26750755a21a122cdf77c71c082abc62ceb305c098f18c128315",
    "076b73fc0cc7a8824681473808d9026622a6966231049ef56c06a15f81f0856256d4b5597d749f7becf2c3bf16874f0b",
    "1950d4da7848bf1075777ec99f5bb4f7261a0ef75bc10faf2679dc870203010001028201004f1bcf4c622b84448d9d5d",
    "80801d6a9c30efea10ab9426ede89ade98a7d97928532cbc11df291628c2236e8f39441783356d6c87f9c47cf18dfe94",
    "92aa3feffa0bf5036a96ee14c66830dc202f35f395903138d45c7c89fa2b8f94dcd38d4dabb90e3e2f77f1c656d90c75",
    "e5a6c1042a256109015a0be6afdc71a013e57181ee128c51c6b1356de772a0030030db15f24f4f345158908803d4d631",
    "8ea9d7df0e164f94274fd307b27cbe7e0b87649d33773fb9243ab472a9491f5be8fe7f83812a586ad23304c3cc0221d0",
    "9e6f7005ea47721ba12b909eb7c7ff569da1f5527c502aa734afa8f30793132bae06b9c11ebf77dcbf6b1096415e090f",
    "bb459267b102818100d40b0f26a67ed1515ae7306ddff137a2f0d04019fd5ad667bbdc696089bf30dc50220f904c6464",
    "a34829eee9898767730511bf776a65018aa8d8fba07b922b0e51c31f7e9bb2efecfcdc911f369b65d5e9d7cfb71c2653",
    "cfddecc96326967b613c17f17a1757365b1e3fe0fea0e5d2f6efbfbb52f3f5934da914fb1f160a35f102818100cba68f",
    "e2d81bf97cd0c6db755c180025275d9b71cf3d34d40c6c5e8cbd337c1b605e8a7f9c728d7932fd13b1ab2a4aaf5eaae7",
    "791545787461dfb30372841d2d77fccb1faef93954d98dbbe6a881ca0136cf1df27ffe68bb09c153c345836bf6d548a2",
    "d755fa368cba37a77ba93c00d14d7759a5104c0b340e0c29b749a7e1f702818100b5d2e9e205a0f75260b59fd487d42b",
    "162093227466c8eed332c6f4e1601cbf041bfea903de4db3f2439e198cce6e7a69a9ae275579b9351236692193e2825b",
    "43431f233188c76e6ef4011abbfe3250a79686854a09ec5faffe27de249461335914939f7046f574d9bb5da14c16a21c",
    "3dbd25d6b672156183957a353fd9c155b10281803d3f44bad67fe352b47f79f51bd36407c8851080f3f0d678879bf7fb",
    "9fd36219e1abcd3f7fcfbbd89d8b1b672db13470f5a9b49fe7d3d2dc3dab476d5bfd7bc0f6fb2223cf3dc90e49b7a4b1",
    "4430748e54eb89782b225a611617fc9717cae4a78191acd7d255c41e22cb2625bcc9fcfcf5ad555a9d422184704d1c26",
    "b1923a150281810090cca07dccccb25257e32caba64ab9aa40db729ee97c39c2ccf11ea32f15c180c6d6142618f62de7",
    "5d014f34e8cf38e36c037c04764b89658c998593da220410a150c7b3fa8774143c5a35e23b144bf75177060abcdeab85",
    "e73c04c3253ad1ddb03c154fd315a3e00a3dd2171f1c0bc5b435742cda12240d0978f4547735138e",
);
/// Its public modulus, base64url (e = AQAB).
const KEY_B_N: &str = concat!(
    "qK67XYtQ_fBqS7I0bb5yjBm85onef651VB5C660tG0Fh3RYZGx15rMC4lFBf6Z4m4T_8-te0D5etV8O9o-",
    "0tlL7HfFz0u2tt1PDMPS4mD_rEdztP-60lSpAM3RvG5YT2WTJFwQqK4_-cnG3P692f__I7w8RWwAA7Mjudrc_-",
    "h2SS3bbVYQmJipreiAbU_6Z2YBSZvxKFJmCESiZ1B1WiGhIs33fHHAgqvGLOswXAmPGMEoMVB2tz_AzHqIJGgUc4CNkCZiKm",
    "lmIxBJ71bAahX4HwhWJW1LVZfXSfe-zyw78Wh08LGVDU2nhIvxB1d37Jn1u09yYaDvdbwQ-vJnnchw",
);
