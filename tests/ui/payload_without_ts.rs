// An outgoing payload with no TypeScript type: clients could not type its messages.
use zocket::Outgoing;

#[derive(serde::Serialize)]
struct Announcement {
    text: String,
}

#[derive(Outgoing)]
enum Out {
    #[zocket(route = "system.announcement")]
    Announcement(Announcement),
}

fn main() {}
