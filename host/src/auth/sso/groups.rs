//! The user's groups, as the identity provider stated them in a verified ID token: captured
//! at sign-in and at every refresh for the claims the environment policies name
//! (`Settings::group_claims_to_capture`), and kept in the session record and its token-free
//! summary, so `LMI_SSO_ALLOWED_GROUPS` is checked without the token or a keychain read.
//!
//! A provider's claim is hostile text like any other: a string (one group) or a list of
//! strings is read; a group that holds a control or formatting character, or is longer than
//! an allowed group may be, is dropped (it could never match one); more than
//! [`MAX_GROUPS`] groups, or a claim of another type, is recorded as unusable, and the gate
//! refuses rather than guess.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::settings::policy::MAX_GROUP_BYTES;

/// The most groups one claim may hold (Entra ID stops at 200 in a token, then sends an
/// overage claim instead).
pub const MAX_GROUPS: usize = 256;

/// What one claim said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Captured {
    /// The groups (none when the token lacks the claim).
    Groups(Vec<String>),
    /// The claim could not be read as groups; why, in words.
    Unusable { unusable: String },
}

/// The captured claims, by claim name. Empty in a record written by an lmi before groups
/// were kept: the gate then renews the session (or asks for a new sign-in) before it admits
/// anyone to an environment that checks groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct GroupClaims(BTreeMap<String, Captured>);

impl GroupClaims {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What `claim` said, if it was captured.
    pub fn get(&self, claim: &str) -> Option<&Captured> {
        self.0.get(claim)
    }

    /// Every captured claim.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Captured)> {
        self.0.iter()
    }
}

/// The claims named in `names` from a verified ID token's claims.
pub fn capture(claims: &serde_json::Value, names: &[String]) -> GroupClaims {
    GroupClaims(
        names
            .iter()
            .map(|name| {
                let captured = match overage(claims, name) {
                    Some(why) => Captured::Unusable { unusable: why },
                    None => capture_one(claims.get(name)),
                };
                (name.clone(), captured)
            })
            .collect(),
    )
}

/// The provider left the groups out because there are too many, and said so: Entra ID's
/// overage indicator, `_claim_names` naming the claim (OpenID Connect Core §5.6.2 distributed
/// claims: the groups are to be fetched from Microsoft Graph), or `hasgroups: true`. lmi
/// does not fetch them: the check fails closed, with what the administrator can change.
fn overage(claims: &serde_json::Value, name: &str) -> Option<String> {
    let present = claims.get(name).is_some_and(|v| !v.is_null());
    let distributed = claims
        .get("_claim_names")
        .and_then(|names| names.get(name))
        .is_some();
    let hasgroups =
        name == "groups" && claims.get("hasgroups") == Some(&serde_json::Value::Bool(true));
    if present || !(distributed || hasgroups) {
        return None;
    }
    let indicator = if distributed {
        "`_claim_names`"
    } else {
        "`hasgroups`"
    };
    Some(format!(
        "the identity provider sent an overage indicator ({indicator}) instead of the groups: you are in more groups than fit in a token (Entra ID stops at 200), and lmi does not fetch them from elsewhere; an administrator can emit only the groups assigned to the application (Entra ID: Token configuration → groups claim → `Groups assigned to the application`)"
    ))
}

fn capture_one(value: Option<&serde_json::Value>) -> Captured {
    use serde_json::Value;
    let items: Vec<&str> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => {
            if many.len() > MAX_GROUPS {
                return Captured::Unusable {
                    unusable: format!(
                        "it holds {} groups, more than the {MAX_GROUPS} lmi reads (ask the identity provider's administrator to send only the groups this client needs)",
                        many.len()
                    ),
                };
            }
            let mut texts = Vec::with_capacity(many.len());
            for item in many {
                match item.as_str() {
                    Some(text) => texts.push(text),
                    None => {
                        return Captured::Unusable {
                            unusable: "it holds something other than text".to_owned(),
                        };
                    }
                }
            }
            texts
        }
        Some(_) => {
            return Captured::Unusable {
                unusable: "it is neither text nor a list of text".to_owned(),
            };
        }
    };
    let mut groups: Vec<String> = items
        .into_iter()
        .filter(|g| {
            !g.is_empty() && g.len() <= MAX_GROUP_BYTES && crate::text::first_unsafe(g).is_none()
        })
        .map(str::to_owned)
        .collect();
    groups.sort();
    groups.dedup();
    Captured::Groups(groups)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(value: serde_json::Value) -> Captured {
        capture(&json!({ "groups": value }), &["groups".to_owned()])
            .get("groups")
            .unwrap()
            .clone()
    }

    #[test]
    fn a_string_or_a_list_of_strings_is_read_and_bounded() {
        assert_eq!(one(json!("ops")), Captured::Groups(vec!["ops".into()]));
        assert_eq!(
            one(json!([
                "b",
                "a",
                "b",
                "",
                "x\u{1b}]52;c;eA==\u{7}",
                "y".repeat(300)
            ])),
            Captured::Groups(vec!["a".into(), "b".into()])
        );
        assert_eq!(one(serde_json::Value::Null), Captured::Groups(vec![]));
        let absent = capture(&json!({}), &["roles".to_owned()]);
        assert_eq!(absent.get("roles"), Some(&Captured::Groups(vec![])));
        assert_eq!(absent.get("groups"), None);
    }

    #[test]
    fn too_many_groups_or_another_type_is_unusable() {
        let many: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
        assert!(matches!(one(json!(many)), Captured::Unusable { .. }));
        assert!(matches!(one(json!(42)), Captured::Unusable { .. }));
        assert!(matches!(one(json!(["a", 1])), Captured::Unusable { .. }));
        assert!(matches!(one(json!({"a": 1})), Captured::Unusable { .. }));
    }

    #[test]
    fn the_record_round_trips() {
        let claims = capture(
            &json!({ "groups": ["ops"], "roles": 7 }),
            &["groups".to_owned(), "roles".to_owned()],
        );
        let text = serde_json::to_string(&claims).unwrap();
        assert_eq!(
            text,
            r#"{"groups":["ops"],"roles":{"unusable":"it is neither text nor a list of text"}}"#
        );
        assert_eq!(serde_json::from_str::<GroupClaims>(&text).unwrap(), claims);
    }

    #[test]
    fn an_overage_indicator_fails_closed_and_says_why() {
        let names = ["groups".to_owned(), "roles".to_owned()];
        let distributed = json!({
            "_claim_names": { "groups": "src1" },
            "_claim_sources": { "src1": { "endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects" } },
        });
        let captured = capture(&distributed, &names);
        match captured.get("groups").unwrap() {
            Captured::Unusable { unusable } => {
                assert!(
                    unusable.contains("`_claim_names`") && unusable.contains("200"),
                    "{unusable}"
                )
            }
            other => panic!("{other:?}"),
        }
        // Only the claim the indicator names.
        assert_eq!(captured.get("roles"), Some(&Captured::Groups(vec![])));
        let implicit = capture(&json!({ "hasgroups": true }), &names);
        assert!(
            matches!(implicit.get("groups"), Some(Captured::Unusable { unusable }) if unusable.contains("`hasgroups`"))
        );
        // Groups present win over a stray indicator; `hasgroups: false` is no indicator.
        let both = capture(&json!({ "groups": ["ops"], "hasgroups": true }), &names);
        assert_eq!(
            both.get("groups"),
            Some(&Captured::Groups(vec!["ops".into()]))
        );
        let no = capture(&json!({ "hasgroups": false }), &names);
        assert_eq!(no.get("groups"), Some(&Captured::Groups(vec![])));
    }
}
