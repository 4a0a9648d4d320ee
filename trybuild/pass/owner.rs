//! `#[session(owner)]` on the accepted key types: `OWNER` is the field's position among the
//! stored fields, and `owner_key` its key.

use session_kit::{Session, SessionData};

#[derive(Session)]
struct ByNumber {
    #[session(skip)]
    scratch: u8,
    device: Option<String>,
    #[session(owner, rename = "uid")]
    user_id: Option<u64>,
}

#[derive(Session)]
struct ByName {
    #[session(owner)]
    account: String,
}

#[derive(Session)]
struct Nobody {
    visits: u32,
}

fn main() {
    assert_eq!(ByNumber::OWNER, Some(1));
    let mut session = ByNumber::fresh();
    assert_eq!(session.owner_key(), None);
    session.user_id = Some(258);
    assert_eq!(session.owner_key(), Some(vec![0, 0, 0, 0, 0, 0, 1, 2]));
    let _ = (session.scratch, session.device);

    assert_eq!(ByName::OWNER, Some(0));
    assert_eq!(ByName { account: "ada".into() }.owner_key(), Some(b"ada".to_vec()));

    assert_eq!(Nobody::OWNER, None);
    assert_eq!(Nobody { visits: 1 }.owner_key(), None);
}
