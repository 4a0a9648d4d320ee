//! Client-side sessions: being written (sealed and signed cookies with key rotation).
