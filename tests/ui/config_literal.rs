// Config is non-exhaustive: it is built with its setters, so new limits never break users.
use zocket::Config;

fn main() {
    let _ = Config {
        max_message_size: 1024,
        ..Config::default()
    };
}
