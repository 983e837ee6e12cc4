//! The upload bucket.

use super::*;

pub(super) async fn check_bucket(cx: &Context<'_>, bucket: Option<&str>) -> Check {
    const NAME: &str = name::UPLOAD_BUCKET;
    let Some(bucket) = bucket else {
        return Check::unchecked(
            NAME,
            "no upload bucket given: pass `--bucket` or set `JOBS_BUCKET`",
        );
    };
    match cx.clients.s3.head_bucket().bucket(bucket).send().await {
        Ok(output) => Check::ok(
            NAME,
            match output.bucket_region() {
                Some(region) => format!("`{bucket}` exists, in `{region}`"),
                None => format!("`{bucket}` exists"),
            },
        ),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Check::problem(
            NAME,
            format!("there is no bucket `{bucket}`"),
            "pass the stack's `UploadBucketName` output as `--bucket` or `JOBS_BUCKET`, or deploy the stack (it creates the bucket)",
        ),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 301) => {
            let elsewhere = e
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .unwrap_or("another region")
                .to_owned();
            Check::problem(
                NAME,
                format!("`{bucket}` is in `{elsewhere}`, not in `{}`", cx.region),
                format!(
                    "run the handler and the doctor with `AWS_REGION={elsewhere}`, or use a bucket in `{}`",
                    cx.region
                ),
            )
        }
        Err(e) => cx.failure(
            NAME,
            "HeadBucket",
            "s3:ListBucket",
            &format!("arn:{}:s3:::{bucket}", cx.partition()),
            &e,
        ),
    }
}
