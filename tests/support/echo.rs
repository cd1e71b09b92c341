//! A small app for the compression tests: `echo` replies with the text it is sent, `shout`
//! broadcasts it to everyone as a `news` event.

use garde::Validate;
use serde::Deserialize;
use std::net::SocketAddr;
use zocket::{CallError, Config, Input, NoHeaders, Outgoing, Sender, TS, Zocket};

#[derive(Outgoing)]
pub enum Out {
    #[zocket(route = "news")]
    News { text: String },
}

#[derive(Deserialize, Validate, TS)]
pub struct Say {
    #[garde(skip)]
    pub text: String,
}

async fn echo(Input(say): Input<Say>) -> String {
    say.text
}

async fn shout(send: Sender<Out>, Input(say): Input<Say>) -> Result<(), CallError> {
    send.emit(Out::News { text: say.text }).broadcast()?;
    Ok(())
}

/// The app with `config`, served on 127.0.0.1.
pub async fn server(config: Config) -> SocketAddr {
    let zo = Zocket::<NoHeaders, Out>::new().config(config);
    let router = zo.router().route("echo", echo).route("shout", shout);
    super::start(zo.server(router)).await.0
}
