//! The nightly products report, a periodic job: the jobs stack's
//! `ProductsReport` schedule puts one on the queue at each firing. It writes
//! every product as CSV to S3, named by the time the firing was for, so a
//! firing run again writes the same object, and two firings never share one.

use handler::{Context, Done, JobError, Perform, Upload};
use shop_jobs::ProductsReport;

use crate::Shop;

/// Where reports go when the job names no prefix.
pub const DEFAULT_PREFIX: &str = "reports/products/";

impl Perform<Shop> for ProductsReport {
    async fn perform(self, cx: &Context<'_, Shop>) -> Result<Done, JobError> {
        let products = cx.state().products.all().await?;
        let key = report_key(&self, cx.job().created_at)?;
        cx.put_object(Upload::new(self.bucket, key, csv(&products)).content_type("text/csv"))
            .await?;
        Ok(Done::done())
    }
}

/// `<prefix><the firing's time, UTC>.csv`: the envelope's `created_at`, which
/// the schedule sets to `<aws.scheduler.scheduled-time>`.
pub fn report_key(
    report: &ProductsReport,
    created_at: Option<std::time::SystemTime>,
) -> Result<String, JobError> {
    let created_at = created_at
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .ok_or_else(|| JobError::permanent("the report's envelope has no `created_at`"))?;
    let prefix = report.prefix.as_deref().unwrap_or(DEFAULT_PREFIX);
    Ok(format!(
        "{prefix}{}.csv",
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + created_at)
    ))
}

/// The report: a header, then one line per product. Names are quoted, with
/// their quotes doubled, as CSV has it.
pub fn csv(products: &[crate::products::Product]) -> String {
    let mut out = String::from("product_id,name,owner_email,paid\n");
    for p in products {
        out.push_str(&format!(
            "{},\"{}\",\"{}\",{}\n",
            p.id,
            p.name.replace('"', "\"\""),
            p.owner_email.replace('"', "\"\""),
            p.paid
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use handler::testing::inline;

    use super::*;
    use crate::products::{Product, Products};

    #[tokio::test]
    async fn the_report_lists_every_product_under_the_firings_time() {
        let shop = Shop {
            products: Products::in_memory([
                Product {
                    id: 2,
                    name: "a \"blue\" mug".into(),
                    owner_email: "bo@example.com".into(),
                    paid: true,
                },
                Product {
                    id: 1,
                    name: "kettle".into(),
                    owner_email: "ann@example.com".into(),
                    paid: false,
                },
            ]),
            sender: "shop@example.com".into(),
            partner_webhook: None,
        };
        let report = ProductsReport {
            bucket: "uploads".into(),
            prefix: None,
        };
        let created = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_349_600);
        let run = inline(report.clone())
            .created_at(created)
            .perform(&shop)
            .await;
        assert!(run.result.is_ok(), "{:?}", run.result);
        let uploads = run.uploads();
        assert_eq!(uploads.len(), 1);
        assert_eq!(uploads[0].key, "reports/products/2026-12-04T02:00:00Z.csv");
        assert_eq!(
            String::from_utf8_lossy(&uploads[0].bytes),
            "product_id,name,owner_email,paid\n1,\"kettle\",\"ann@example.com\",false\n2,\"a \"\"blue\"\" mug\",\"bo@example.com\",true\n"
        );
        assert!(report_key(&report, None).is_err());
    }
}
