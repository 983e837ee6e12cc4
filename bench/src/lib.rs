//! What `make bench` measures with: canned jobs shared by the stub endpoint,
//! the raw loops and the CPU benchmarks. See `bench/README.md`.

use base64::Engine as _;
use producer::{Envelope, Job, MailJob, UploadJob};

/// The bucket every benchmark upload goes to.
pub const BUCKET: &str = "bench-bucket";

/// Bytes that do not compress to nothing, the same on every run.
pub fn payload_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// An upload job of `len` bytes, as a message body.
pub fn upload_body(len: usize, key: &str) -> String {
    Envelope::new(Job::Upload(UploadJob::from_bytes(
        BUCKET,
        key,
        &payload_bytes(len),
    )))
    .to_json()
}

/// A text mail of about `len` bytes, as a message body.
pub fn mail_body(len: usize) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(payload_bytes(len * 3 / 4));
    Envelope::new(Job::Mail(MailJob {
        from: "jobs@example.com".into(),
        to: vec!["ann@example.com".into()],
        subject: "Your report is ready".into(),
        text: Some(text),
        ..MailJob::default()
    }))
    .to_json()
}
