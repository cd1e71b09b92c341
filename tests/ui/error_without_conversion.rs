// An error type with no conversion into CallError cannot be returned with `?`: CallError is a
// std::error::Error, and conversions are explicit (From impls, or CallError::internal_from).
use zocket::CallError;

#[derive(Debug)]
struct MyError;

impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mine")
    }
}

impl std::error::Error for MyError {}

fn load() -> Result<u32, MyError> {
    Err(MyError)
}

async fn handler() -> Result<u32, CallError> {
    let n = load()?;
    Ok(n)
}

fn main() {
    let _ = handler;
}
