//! An upload's file too large for a message, staged in the payload bucket
//! before its job is sent.

use producer::contract::envelope::UploadSource;
use producer::send::payloads::{PayloadStore, StageError};
use producer::send::queue::fits_inline;

use super::super::progress::Progress;
use super::{EnqueueArgs, EnqueueKind};

/// Stages an upload's file in the payload bucket when it is too large to
/// travel in the message, with its progress on a terminal.
pub(super) async fn stage_upload(
    args: &EnqueueArgs,
    payloads: Option<&PayloadStore>,
) -> Result<Option<UploadSource>, StageError> {
    let (Some(EnqueueKind::Upload(upload)), Some(store), None) = (&args.kind, payloads, &args.json)
    else {
        return Ok(None);
    };
    let size = std::fs::metadata(&upload.file)
        .map_err(|source| StageError::Read {
            path: upload.file.clone(),
            source,
        })?
        .len();
    if fits_inline(size, args.max_message_bytes) {
        return Ok(None);
    }
    let progress = Progress::bytes("staging", size);
    let staged = store
        .stage_file_with_progress(&upload.file, |done| progress.set(done))
        .await;
    progress.finish();
    staged.map(Some)
}
