//! The Lambda side: an SQS event in, a partial batch response out.
//!
//! Only the messages listed in `batchItemFailures` come back; Lambda deletes the
//! rest. This needs `FunctionResponseTypes: [ReportBatchItemFailures]` on the
//! event source (see infra/template.yaml).

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{LambdaEvent, service_fn};

use crate::batch::{Delivery, Handler};

/// Serves SQS events from the Lambda runtime API until the process ends.
pub async fn run(handler: Handler) -> Result<(), lambda_runtime::Error> {
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        // The runtime gives the deadline in milliseconds since the epoch.
        let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        handler
            .handle_sqs_event_until(event.payload, Some(deadline))
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// A record that cannot be named cannot be reported as failed alone; failing
    /// the whole invocation makes Lambda retry the batch rather than lose it.
    #[error("record {0} of the event has no `messageId`")]
    RecordWithoutId(usize),
}

/// Turns a Lambda SQS record into a delivery. The body is kept as it is: it is
/// decoded later, on its own, so that one bad body fails one record.
pub fn delivery_from_record(
    index: usize,
    record: SqsMessage,
    queue_url: Option<String>,
) -> Result<Delivery, EventError> {
    let message_id = record
        .message_id
        .filter(|id| !id.is_empty())
        .ok_or(EventError::RecordWithoutId(index))?;
    let receive_count = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let sent_at = record
        .attributes
        .get("SentTimestamp")
        .and_then(|millis| Delivery::sent_timestamp(millis));
    let attributes = Delivery::job_attributes(|name| {
        record
            .message_attributes
            .get(name)
            .and_then(|a| a.string_value.clone())
    });
    Ok(Delivery {
        message_id,
        receipt_handle: record.receipt_handle,
        queue_url,
        queue_arn: record.event_source_arn,
        body: record.body.unwrap_or_default(),
        receive_count,
        sent_at,
        job_id: attributes.job_id,
        payload_size: attributes.payload_size,
        snoozed_until: attributes.snoozed_until,
    })
}

impl Handler {
    /// The Lambda function's work: process the batch, report what must come back.
    pub async fn handle_sqs_event(&self, event: SqsEvent) -> Result<SqsBatchResponse, EventError> {
        self.handle_sqs_event_until(event, None).await
    }

    /// As [`Handler::handle_sqs_event`], for an invocation that ends at `deadline`.
    pub async fn handle_sqs_event_until(
        &self,
        event: SqsEvent,
        deadline: Option<SystemTime>,
    ) -> Result<SqsBatchResponse, EventError> {
        let mut deliveries = Vec::with_capacity(event.records.len());
        for (index, record) in event.records.into_iter().enumerate() {
            deliveries.push(delivery_from_record(index, record, None)?);
        }
        let order: Vec<String> = deliveries.iter().map(|d| d.message_id.clone()).collect();
        let processed = self.process_batch_until(deliveries, deadline).await;
        let mut response = SqsBatchResponse::default();
        // Report in the event's order, which keeps responses stable for tests and logs.
        for message_id in order {
            let retry = processed
                .iter()
                .any(|p| p.delivery.message_id == message_id && !p.outcome.is_settled());
            if retry {
                response.add_failure(message_id);
            }
        }
        if let Some(metrics) = self.metrics() {
            // Embedded-metric-format lines on stdout: CloudWatch Logs makes the
            // metrics, with no API call from here.
            let now_ms = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            if let Err(e) = metrics.write_emf(&mut std::io::stdout().lock(), now_ms) {
                tracing::warn!(error = %e, "cannot write job metrics");
            }
        }
        Ok(response)
    }

    /// The URL of the queue a message came from: given, or looked up from its
    /// ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`) once per queue. Without it, retries
    /// wait the queue's visibility timeout.
    pub(crate) async fn queue_url_of(&self, delivery: &Delivery) -> Option<String> {
        match (&delivery.queue_url, &delivery.queue_arn) {
            (Some(url), _) => Some(url.clone()),
            (None, Some(arn)) => self.queue_url_for(arn).await,
            (None, None) => None,
        }
    }

    pub(crate) async fn queue_url_for(&self, arn: &str) -> Option<String> {
        if let Some(url) = self.queue_urls.lock().ok()?.get(arn) {
            return Some(url.clone());
        }
        let mut parts = arn.split(':').skip(4);
        let (account, name) = (parts.next()?, parts.next()?);
        // A queue of the stack's routes needs no lookup: its URL ends in
        // `/<account>/<name>`.
        let tail = format!("/{account}/{name}");
        if let Some((_, url)) = self
            .settings()
            .routes
            .iter()
            .find(|(_, url)| url.ends_with(&tail))
        {
            return Some(url.to_owned());
        }
        let url = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .send()
            .await
            .map_err(|e| tracing::warn!(arn, error = %producer::aws::describe(&e), "cannot look the queue up"))
            .ok()?
            .queue_url?;
        self.queue_urls
            .lock()
            .ok()?
            .insert(arn.to_owned(), url.clone());
        Some(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pointer message's size and job id come from its attributes, in the
    /// shape Lambda gives them (the repository's sample event, with the
    /// Extended Client's attribute added).
    #[test]
    fn a_records_job_id_and_payload_size_come_from_its_attributes() {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../../events/upload.json")).expect("sample event");
        event["Records"][0]["messageAttributes"]["ExtendedPayloadSize"] =
            serde_json::json!({"stringValue": "5242880", "dataType": "Number"});
        let event: SqsEvent = serde_json::from_value(event).expect("an SQS event");
        let record = event.records.into_iter().next().expect("one record");
        let delivery = delivery_from_record(0, record.clone(), None).expect("named");
        assert_eq!(delivery.job_id.as_deref(), Some("event-upload-1"));
        assert_eq!(delivery.payload_size, Some(5_242_880));

        let mut legacy = record;
        let size = legacy
            .message_attributes
            .remove("ExtendedPayloadSize")
            .expect("set above");
        legacy
            .message_attributes
            .insert("SQSLargePayloadSize".into(), size);
        legacy.message_attributes.remove("jobs.id");
        let delivery = delivery_from_record(0, legacy, None).expect("named");
        assert_eq!(
            (delivery.job_id, delivery.payload_size),
            (None, Some(5_242_880))
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Whatever attributes a sender sets, a record becomes a delivery
        /// without a panic: its size is read only from a number, its receive
        /// count defaults to 1, and the body is kept untouched for the decoder.
        #[test]
        fn any_attributes_make_a_delivery(
            attributes in proptest::collection::btree_map(
                proptest::prop_oneof![
                    proptest::strategy::Just("jobs.id".to_owned()),
                    proptest::strategy::Just("ExtendedPayloadSize".to_owned()),
                    proptest::strategy::Just("SQSLargePayloadSize".to_owned()),
                    proptest::prelude::any::<String>(),
                ],
                proptest::option::of(proptest::prelude::any::<String>()),
                0..6,
            ),
            receive_count in proptest::option::of(proptest::prelude::any::<String>()),
            body in proptest::option::of(proptest::prelude::any::<String>()),
        ) {
            let mut record = SqsMessage::default();
            record.message_id = Some("m-1".into());
            record.body = body.clone();
            if let Some(count) = &receive_count {
                record.attributes.insert("ApproximateReceiveCount".into(), count.clone());
            }
            for (name, value) in &attributes {
                let mut attribute = aws_lambda_events::sqs::SqsMessageAttribute::default();
                attribute.string_value = value.clone();
                attribute.data_type = Some("String".into());
                record.message_attributes.insert(name.clone(), attribute);
            }
            let delivery = delivery_from_record(0, record, None).expect("named");
            proptest::prop_assert_eq!(delivery.body, body.unwrap_or_default());
            let named = |name: &str| attributes.get(name).cloned().flatten();
            let size = named("ExtendedPayloadSize")
                .or_else(|| named("SQSLargePayloadSize"))
                .and_then(|s| s.parse::<u64>().ok());
            proptest::prop_assert_eq!(delivery.payload_size, size);
            let count = receive_count.and_then(|c| c.parse::<u32>().ok()).unwrap_or(1);
            proptest::prop_assert_eq!(delivery.receive_count, count);
        }
    }
}
