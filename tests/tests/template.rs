//! Reads infra/template.yaml and holds it to the rules a production stack must
//! keep, and the shop example's examples/shop/template.yaml to its own. Runs
//! without AWS; `make test` also runs cfn-lint and `sam validate --lint`.

use serde_norway::Value;

/// A template of the repository, by its path from the root.
fn load(relative: &str) -> Value {
    let path = integration_tests::repo_root().join(relative);
    let text = std::fs::read_to_string(&path).expect(relative);
    serde_norway::from_str(&text).expect("the template is YAML")
}

fn template() -> Value {
    load("infra/template.yaml")
}

/// A CloudFormation short-form function (`!Ref X`) as (tag, value).
fn tagged(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(t) => Some((t.tag.to_string(), &t.value)),
        _ => None,
    }
}

/// The argument of a short-form function whose tag must be `tag` (`!Ref X` -> X).
fn intrinsic<'a>(value: &'a Value, tag: &str) -> &'a Value {
    match tagged(value) {
        Some((t, v)) if t == tag => v,
        _ => panic!("not {tag}: {value:?}"),
    }
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    let r = &t["Resources"][name];
    assert!(!r.is_null(), "resource {name} is missing");
    r
}

fn props<'a>(t: &'a Value, name: &str) -> &'a Value {
    &resource(t, name)["Properties"]
}

fn number(value: &Value) -> u64 {
    match value {
        Value::Number(n) => n.as_u64().expect("a whole number"),
        Value::String(s) => s.parse().expect("a number"),
        other => panic!("not a number: {other:?}"),
    }
}

fn list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Sequence(items) => items.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    }
}

/// The job queues, by logical id: every SQS queue with a redrive policy, so
/// that a queue added to the template is held to the same rules. Each comes
/// with its name in `JOBS_QUEUE_URLS` (`MailersQueue` is `mailers`) and its
/// dead-letter queue's logical id.
fn job_queues(t: &Value) -> Vec<(String, String, String)> {
    let Value::Mapping(resources) = &t["Resources"] else {
        panic!("no resources")
    };
    let queues: Vec<_> = resources
        .iter()
        .filter(|(_, r)| {
            r["Type"] == "AWS::SQS::Queue" && !r["Properties"]["RedrivePolicy"].is_null()
        })
        .map(|(id, r)| {
            let id = id.as_str().expect("logical ids are strings").to_owned();
            let target = intrinsic(
                &r["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
                "!GetAtt",
            );
            let dlq = target
                .as_str()
                .and_then(|t| t.strip_suffix(".Arn"))
                .expect("Queue.Arn")
                .to_owned();
            let name = id
                .strip_suffix("Queue")
                .expect("job queues are named <Name>Queue")
                .to_lowercase();
            (id, name, dlq)
        })
        .collect();
    assert!(
        queues.len() >= 2,
        "mailers and default at least: {queues:?}"
    );
    queues
}

/// The text of a `!Sub` (its first argument when it has variables).
fn sub_text(value: &Value) -> String {
    let v = intrinsic(value, "!Sub");
    match v {
        Value::Sequence(items) => items[0].as_str().expect("a string").to_owned(),
        other => other.as_str().expect("a string").to_owned(),
    }
}

#[test]
fn visibility_timeout_is_at_least_six_times_the_function_timeout_plus_the_window() {
    let t = template();
    let max_window = number(&t["Parameters"]["BatchingWindowSeconds"]["MaxValue"]);
    let allowed = list(&t["Parameters"]["FunctionTimeout"]["AllowedValues"]);
    assert!(!allowed.is_empty());
    for timeout in allowed {
        let key = timeout
            .as_str()
            .expect("timeouts are strings (they key the mapping)");
        let visibility = number(&t["Mappings"]["VisibilityByTimeout"][key]["Seconds"]);
        let timeout = number(timeout);
        assert!(
            visibility >= 6 * timeout + max_window,
            "timeout {timeout}: visibility {visibility}"
        );
        assert!(visibility <= 43_200, "SQS's largest visibility timeout");
    }
    for (queue, _, _) in job_queues(&t) {
        let (tag, args) = tagged(&props(&t, &queue)["VisibilityTimeout"]).expect("!FindInMap");
        assert_eq!(tag, "!FindInMap", "{queue}");
        assert_eq!(args[0], "VisibilityByTimeout");
        assert_eq!(
            tagged(&args[1]).map(|(tag, v)| (tag, v.clone())),
            Some(("!Ref".into(), "FunctionTimeout".into())),
            "{queue}"
        );
    }
}

#[test]
fn every_queue_is_encrypted_named_per_stack_and_its_dead_letter_queue_outlives_it() {
    let t = template();
    let queues = job_queues(&t);
    let names: Vec<&str> = queues.iter().map(|(_, name, _)| name.as_str()).collect();
    assert!(
        names.contains(&"mailers") && names.contains(&"default"),
        "{names:?}"
    );
    for (queue, name, dlq) in &queues {
        let dlq_retention = number(&props(&t, dlq)["MessageRetentionPeriod"]);
        let retention = number(&props(&t, queue)["MessageRetentionPeriod"]);
        assert_eq!(dlq_retention, 14 * 24 * 3600, "{dlq}");
        assert!(dlq_retention > retention, "{queue}");
        for id in [queue, dlq] {
            assert_eq!(
                props(&t, id)["SqsManagedSseEnabled"],
                Value::Bool(true),
                "{id}"
            );
        }
        assert_eq!(
            sub_text(&props(&t, queue)["QueueName"]),
            format!("${{QueueNamePrefix}}${{AWS::StackName}}-{name}")
        );
        assert_eq!(
            sub_text(&props(&t, dlq)["QueueName"]),
            format!("${{QueueNamePrefix}}${{AWS::StackName}}-{name}-dead")
        );
        let redrive = &props(&t, queue)["RedrivePolicy"];
        assert_eq!(
            tagged(&redrive["maxReceiveCount"]).map(|(_, v)| v.clone()),
            Some("MaxReceiveCount".into())
        );
    }
    assert!(
        number(&t["Parameters"]["MaxReceiveCount"]["MinValue"]) >= 2,
        "one delivery is no retry"
    );
}

#[test]
fn every_queue_has_an_event_source_that_reports_batch_item_failures_with_its_own_cap() {
    let t = template();
    let function = resource(&t, "HandlerFunction");
    assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda");
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(list(&globals["Architectures"]), [&Value::from("arm64")]);
    for name in ["HandlerFunction", "MailersFunction"] {
        let p = props(&t, name);
        assert!(
            p["Policies"].is_null(),
            "{name}: permissions come from HandlerRole alone"
        );
        assert!(
            p["Events"].is_null(),
            "{name}: event sources are mappings of their own"
        );
        assert_eq!(
            tagged(&p["Role"]).map(|(tag, v)| (tag, v.clone())),
            Some(("!GetAtt".into(), "HandlerRole.Arn".into())),
            "{name}"
        );
        assert!(!p["LoggingConfig"]["LogGroup"].is_null(), "{name}");
    }
    let Value::Mapping(resources) = &t["Resources"] else {
        panic!("no resources")
    };
    for (queue, _, _) in job_queues(&t) {
        let arn = format!("{queue}.Arn");
        let mappings: Vec<_> = resources
            .values()
            .filter(|r| {
                r["Type"] == "AWS::Lambda::EventSourceMapping"
                    && tagged(&r["Properties"]["EventSourceArn"]).map(|(_, v)| v.clone())
                        == Some(Value::from(arn.as_str()))
            })
            .collect();
        assert_eq!(mappings.len(), 1, "{queue}: one event source");
        let e = &mappings[0]["Properties"];
        assert!(
            list(&e["FunctionResponseTypes"]).contains(&&Value::from("ReportBatchItemFailures"))
        );
        for key in ["BatchSize", "MaximumBatchingWindowInSeconds"] {
            assert!(!e[key].is_null(), "{queue}: {key}");
        }
        let cap = intrinsic(&e["ScalingConfig"]["MaximumConcurrency"], "!Ref");
        let size = intrinsic(&e["BatchSize"], "!Ref");
        assert!(
            cap.as_str()
                .is_some_and(|c| c.contains(&queue.replace("Queue", ""))),
            "{queue}: a cap of its own, not {cap:?}"
        );
        assert!(
            size.as_str()
                .is_some_and(|c| c.contains(&queue.replace("Queue", ""))),
            "{queue}: a batch size of its own, not {size:?}"
        );
    }
    // Capacity slow work can never take: the mailers' own function, with
    // reserved concurrency, only when asked for.
    let mailers = resource(&t, "MailersFunction");
    assert_eq!(mailers["Condition"], "MailersFunctionOfTheirOwn");
    assert_eq!(
        intrinsic(
            &mailers["Properties"]["ReservedConcurrentExecutions"],
            "!Ref"
        ),
        "MailersReservedConcurrency"
    );
    assert_eq!(
        number(&t["Parameters"]["MailersReservedConcurrency"]["Default"]),
        0
    );
    let target = intrinsic(&props(&t, "MailersEventSource")["FunctionName"], "!If");
    assert_eq!(list(target)[0], "MailersFunctionOfTheirOwn");
    for group in ["HandlerLogGroup", "MailersLogGroup"] {
        assert!(
            !props(&t, group)["RetentionInDays"].is_null(),
            "{group}: log retention is set"
        );
    }
}

/// Every statement of the function's role and of the managed policies.
fn allow_statements(t: &Value) -> Vec<(&'static str, &Value)> {
    let mut statements = Vec::new();
    for policy in list(&props(t, "HandlerRole")["Policies"]) {
        for s in list(&policy["PolicyDocument"]["Statement"]) {
            statements.push(("HandlerRole", s));
        }
    }
    for owner in ["ProducerPolicy", "ConsolePolicy", "WorkerPolicy"] {
        for s in list(&props(t, owner)["PolicyDocument"]["Statement"]) {
            statements.push((owner, when_deployed(s)));
        }
    }
    statements
}

/// The only actions granted on `Resource: "*"`: those that take no other resource.
const ACTIONS_ON_EVERY_RESOURCE: &[(&str, &str)] = &[
    ("ConsolePolicy", "cloudwatch:GetMetricData"),
    ("WorkerPolicy", "cloudwatch:PutMetricData"),
];

/// A statement, or the statement of `!If [WithFunction, STATEMENT, !Ref AWS::NoValue]`.
fn when_deployed(statement: &Value) -> &Value {
    match tagged(statement) {
        Some((tag, args)) if tag == "!If" => {
            let args = list(args);
            assert_eq!(args[0], "WithFunction", "{statement:?}");
            assert_eq!(intrinsic(args[2], "!Ref"), "AWS::NoValue");
            args[1]
        }
        _ => statement,
    }
}

#[test]
fn policies_name_no_wildcard_action_and_no_wildcard_resource() {
    let t = template();
    let statements = allow_statements(&t);
    assert!(statements.len() >= 6);
    let mut on_every_resource = Vec::new();
    for (owner, s) in statements {
        assert_eq!(s["Effect"], "Allow", "{owner}");
        let actions: Vec<&str> = list(&s["Action"])
            .into_iter()
            .map(|a| a.as_str().expect("actions are plain strings"))
            .collect();
        for action in &actions {
            assert!(!action.contains('*'), "{owner}: wildcard action {action}");
        }
        let resources = list(&s["Resource"]);
        assert!(
            !resources.is_empty(),
            "{owner}: a statement without resources"
        );
        if resources.iter().any(|r| r.as_str() == Some("*")) {
            assert_eq!(resources.len(), 1, "{owner}: \"*\" with other resources");
            for action in actions {
                on_every_resource.push((owner, action));
            }
            if owner == "WorkerPolicy" {
                // Held to the job metrics' namespace.
                let namespace = &s["Condition"]["StringEquals"]["cloudwatch:namespace"];
                assert_eq!(intrinsic(namespace, "!Ref"), "MetricsNamespace", "{s:?}");
            }
        }
    }
    assert_eq!(on_every_resource, ACTIONS_ON_EVERY_RESOURCE);
    let producer = list(&props(&t, "ProducerPolicy")["PolicyDocument"]["Statement"]);
    let actions: Vec<&str> = producer
        .iter()
        .map(|s| when_deployed(s))
        .flat_map(|s| list(&s["Action"]))
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        actions,
        [
            "sqs:SendMessage",
            "sqs:GetQueueUrl",
            "s3:PutObject",
            "s3:AbortMultipartUpload",
            "s3:DeleteObject",
            "dynamodb:PutItem",
            "dynamodb:GetItem",
            "dynamodb:BatchWriteItem"
        ]
    );
    assert!(!t["Outputs"]["ProducerPolicyArn"].is_null());
}

#[test]
fn the_producer_policy_can_cancel_on_the_ledger_the_stack_outputs() {
    let t = template();
    let producer = list(&props(&t, "ProducerPolicy")["PolicyDocument"]["Statement"]);
    let cancel = producer
        .iter()
        .map(|s| when_deployed(s))
        .find(|s| s["Sid"] == "CancelJobs")
        .expect("a CancelJobs statement");
    // What operations::cancel calls: a conditional PutItem, and a GetItem of
    // the record that stopped it; and what a producer with the `schedules`
    // feature writes: schedule records, one or a batch at a time.
    assert_eq!(
        list(&cancel["Action"]),
        [
            &Value::from("dynamodb:PutItem"),
            &Value::from("dynamodb:GetItem"),
            &Value::from("dynamodb:BatchWriteItem")
        ]
    );
    let arn = intrinsic(&cancel["Resource"], "!GetAtt");
    assert_eq!(arn, "IdempotencyTable.Arn");
    let output = &t["Outputs"]["IdempotencyTableName"];
    assert_eq!(intrinsic(&output["Value"], "!Ref"), "IdempotencyTable");
    assert_eq!(output["Condition"], "WithFunction");
}

#[test]
fn the_function_knows_every_queue_and_the_receive_count_is_a_ceiling_above_the_retry_limits() {
    let t = template();
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    let urls = sub_text(&env["JOBS_QUEUE_URLS"]);
    assert_eq!(
        urls,
        sub_text(&t["Outputs"]["QueueUrls"]["Value"]),
        "the function and the stack's output name the same queues"
    );
    for (queue, name, _) in job_queues(&t) {
        assert!(
            urls.contains(&format!("\"{name}\": \"${{{queue}}}\"")),
            "{queue} missing from JOBS_QUEUE_URLS: {urls}"
        );
    }
    assert!(
        env["JOBS_DLQ_URL"].is_null(),
        "each queue's RedrivePolicy names its own"
    );
    assert_eq!(
        intrinsic(
            &env[producer::contract::pointer::PAYLOAD_BUCKET_ENV],
            "!Ref"
        ),
        "PayloadBucket",
        "the function follows pointers into the payload bucket and nowhere else"
    );
    assert_eq!(
        intrinsic(&env["JOBS_MAX_RECEIVE_COUNT"], "!Ref"),
        "MaxReceiveCount"
    );
    // The shop's reminder allows five retries: six deliveries.
    let runner = shop_worker::runner();
    let default = number(&t["Parameters"]["MaxReceiveCount"]["Default"]);
    assert!(
        runner.unreachable_retry_limits(default as u32).is_empty(),
        "MaxReceiveCount {default} is below a retry limit of the shop's"
    );
}

/// The logical ids a resource list names (`!GetAtt X.Arn` gives `X`).
fn named_resources(resources: &Value) -> Vec<String> {
    list(resources)
        .into_iter()
        .filter_map(|r| tagged(r).and_then(|(_, v)| v.as_str().map(str::to_owned)))
        .map(|v| v.trim_end_matches(".Arn").to_owned())
        .collect()
}

#[test]
fn the_policies_cover_every_queue_and_its_dead_letters() {
    let t = template();
    let statement = |owner: &str, sid: &str| -> Vec<String> {
        let statements: Vec<&Value> = if owner == "ProducerPolicy" {
            list(&props(&t, owner)["PolicyDocument"]["Statement"])
        } else {
            list(&props(&t, owner)["Policies"][0]["PolicyDocument"]["Statement"])
        };
        let found = statements
            .into_iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("{owner}: no {sid}"));
        named_resources(&found["Resource"])
    };
    for (queue, _, dlq) in job_queues(&t) {
        for (owner, sid, needs) in [
            ("ProducerPolicy", "EnqueueJobs", &queue),
            ("HandlerRole", "PollTheJobQueues", &queue),
            (
                "HandlerRole",
                "CarryScheduledJobsForwardAndFollowUps",
                &queue,
            ),
            ("HandlerRole", "DeadLetterWithReasons", &dlq),
        ] {
            assert!(
                statement(owner, sid).contains(needs),
                "{owner} {sid} does not name {needs}"
            );
        }
    }
}

#[test]
fn the_buckets_are_private_encrypted_owner_enforced_and_tls_only() {
    let t = template();
    for bucket in ["UploadBucket", "PayloadBucket"] {
        bucket_is_private_encrypted_owner_enforced_and_tls_only(&t, bucket);
    }
}

fn bucket_is_private_encrypted_owner_enforced_and_tls_only(t: &Value, bucket: &str) {
    let p = props(t, bucket);
    for key in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            p["PublicAccessBlockConfiguration"][key],
            Value::Bool(true),
            "{bucket} {key}"
        );
    }
    assert!(
        !p["BucketEncryption"]["ServerSideEncryptionConfiguration"].is_null(),
        "{bucket}"
    );
    assert_eq!(
        p["OwnershipControls"]["Rules"][0]["ObjectOwnership"], "BucketOwnerEnforced",
        "{bucket}"
    );
    let policy = props(t, &format!("{bucket}Policy"));
    assert_eq!(intrinsic(&policy["Bucket"], "!Ref"), bucket);
    let statements = list(&policy["PolicyDocument"]["Statement"]);
    assert!(
        statements.iter().any(|s| s["Effect"] == "Deny"
            && s["Action"] == "s3:*"
            && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"),
        "{bucket}"
    );
}

/// Stored envelopes are the producer's to write (and delete when SQS refuses
/// the message) and the handler's to read and delete, under the prefix the
/// code writes, and no other policy names the bucket. What is left expires
/// only after the longest time a body may be needed: the horizon producers
/// keep stored jobs within, then the queue's retention, then the dead-letter
/// queue's.
#[test]
fn the_payload_bucket_is_the_producers_to_write_and_the_handlers_to_read_and_expires_after_its_last_use()
 {
    let t = template();
    let rules = list(&props(&t, "PayloadBucket")["LifecycleConfiguration"]["Rules"]);
    assert_eq!(rules.len(), 1);
    let rule = rules[0];
    assert_eq!(rule["Prefix"], producer::send::payloads::PAYLOAD_PREFIX);
    let days = |seconds: &Value| number(seconds) / 86_400;
    let horizon_days = producer::send::payloads::SCHEDULE_HORIZON.as_secs() / 86_400;
    for (queue, dead_letters) in [
        ("DefaultQueue", "DefaultDeadLetterQueue"),
        ("MailersQueue", "MailersDeadLetterQueue"),
    ] {
        assert!(
            number(&rule["ExpirationInDays"])
                >= horizon_days
                    + days(&props(&t, queue)["MessageRetentionPeriod"])
                    + days(&props(&t, dead_letters)["MessageRetentionPeriod"]),
            "{queue}"
        );
    }
    let mut grants: Vec<(String, String, Vec<String>, String)> = allow_statements(&t)
        .into_iter()
        .filter(|(_, s)| {
            serde_json::to_string(&s["Resource"]).is_ok_and(|r| r.contains("PayloadBucket"))
        })
        .map(|(owner, s)| {
            let actions = list(&s["Action"])
                .iter()
                .map(|a| a.as_str().unwrap_or_default().to_owned())
                .collect();
            (
                owner.to_owned(),
                s["Sid"].as_str().unwrap_or_default().to_owned(),
                actions,
                sub_text(&s["Resource"]),
            )
        })
        .collect();
    grants.sort();
    let objects = "${PayloadBucket.Arn}/payloads/*".to_owned();
    assert_eq!(
        grants,
        [
            (
                "ConsolePolicy".to_owned(),
                "ShowAndDeleteStoredDeadLetters".to_owned(),
                vec!["s3:GetObject".to_owned(), "s3:DeleteObject".to_owned()],
                objects.clone()
            ),
            (
                "HandlerRole".to_owned(),
                "ReadLargeJobs".to_owned(),
                vec!["s3:GetObject".to_owned(), "s3:DeleteObject".to_owned()],
                objects.clone()
            ),
            (
                "ProducerPolicy".to_owned(),
                "StoreLargeJobs".to_owned(),
                vec![
                    "s3:PutObject".to_owned(),
                    "s3:AbortMultipartUpload".to_owned(),
                    "s3:DeleteObject".to_owned()
                ],
                objects
            ),
        ]
    );
}

#[test]
fn alarms_watch_every_queues_dead_letters_and_oldest_job_and_the_functions() {
    let t = template();
    let Value::Mapping(resources) = &t["Resources"] else {
        panic!("no resources")
    };
    let alarm_on = |metric: &str, dimension: &str| {
        resources.values().any(|r| {
            r["Type"] == "AWS::CloudWatch::Alarm"
                && r["Properties"]["MetricName"] == metric
                && tagged(&r["Properties"]["Dimensions"][0]["Value"]).map(|(_, v)| v.clone())
                    == Some(Value::from(dimension))
                && list(&r["Properties"]["AlarmActions"])
                    .iter()
                    .any(|a| tagged(a).map(|(_, v)| v.clone()) == Some("AlarmTopic".into()))
        })
    };
    let dashboard = sub_text(&props(&t, "Dashboard")["DashboardBody"]);
    let variables = &intrinsic(&props(&t, "Dashboard")["DashboardBody"], "!Sub")[1];
    for (queue, _, dlq) in job_queues(&t) {
        assert!(
            alarm_on(
                "ApproximateNumberOfMessagesVisible",
                &format!("{dlq}.QueueName")
            ),
            "no alarm on {dlq}"
        );
        assert!(
            alarm_on(
                "ApproximateAgeOfOldestMessage",
                &format!("{queue}.QueueName")
            ),
            "no age alarm on {queue}"
        );
        for id in [&queue, &dlq] {
            let placed = match variables {
                Value::Mapping(vars) => vars.iter().any(|(k, v)| {
                    tagged(v).map(|(_, v)| v.clone())
                        == Some(Value::from(format!("{id}.QueueName")))
                        && k.as_str()
                            .is_some_and(|k| dashboard.contains(&format!("${{{k}}}")))
                }),
                _ => false,
            };
            assert!(placed, "{id} has no place on the dashboard");
        }
    }
    for (name, metric) in [
        ("HandlerErrorsAlarm", "Errors"),
        ("HandlerThrottlesAlarm", "Throttles"),
        ("MailersFunctionErrorsAlarm", "Errors"),
        ("MailersFunctionThrottlesAlarm", "Throttles"),
    ] {
        assert_eq!(props(&t, name)["MetricName"], metric, "{name}");
    }
    for output in [
        "QueueUrls",
        "MailersQueueUrl",
        "MailersDeadLetterQueueUrl",
        "DefaultQueueUrl",
        "DefaultDeadLetterQueueUrl",
        "DefaultEventSourceId",
        "MailersEventSourceId",
        "UploadBucketName",
        "ProducerPolicyArn",
        "DashboardUrl",
    ] {
        assert!(!t["Outputs"][output].is_null(), "output {output}");
    }
}

#[test]
fn mail_events_reach_a_topic_and_the_identity_uses_the_configuration_set() {
    let t = template();
    let identity = props(&t, "SenderIdentity");
    assert!(!identity["ConfigurationSetAttributes"]["ConfigurationSetName"].is_null());
    let events = props(&t, "MailBounceEvents");
    let types: Vec<&str> = list(&events["EventDestination"]["MatchingEventTypes"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        types.contains(&"bounce") && types.contains(&"complaint"),
        "{types:?}"
    );
    assert!(!events["EventDestination"]["SnsDestination"]["TopicARN"].is_null());
}

#[test]
fn the_release_build_keeps_unwinding() {
    // lambda_runtime turns a panic into an invocation error only when panics unwind.
    // The own-jobs panic isolation (catch_unwind around each perform) relies on it too.
    for manifest in [
        "Cargo.toml",
        "handler/Cargo.toml",
        "producer/Cargo.toml",
        "operations/Cargo.toml",
        "examples/shop/worker/Cargo.toml",
    ] {
        let text = std::fs::read_to_string(integration_tests::repo_root().join(manifest))
            .expect("manifest");
        assert!(
            !text
                .lines()
                .any(|l| l.replace(' ', "").starts_with("panic=\"abort\"")),
            "{manifest} sets panic = \"abort\""
        );
    }
}

#[test]
fn the_idempotency_table_expires_done_records_and_is_the_only_table_of_the_policies() {
    let t = template();
    let p = props(&t, "IdempotencyTable");
    assert_eq!(p["TimeToLiveSpecification"]["AttributeName"], "expires_at");
    assert_eq!(p["TimeToLiveSpecification"]["Enabled"], Value::Bool(true));
    assert_eq!(p["KeySchema"][0]["AttributeName"], "job_id");
    assert_eq!(p["SSESpecification"]["SSEEnabled"], Value::Bool(true));
    let dynamodb: Vec<&Value> = allow_statements(&t)
        .into_iter()
        .filter(|(_, s)| {
            list(&s["Action"])
                .iter()
                .any(|a| a.as_str().is_some_and(|a| a.starts_with("dynamodb:")))
        })
        .map(|(_, s)| s)
        .collect();
    // The handler's role, the producer policy's cancel, the console's job
    // pages and its tabs (queries of the table's indexes, and nothing else).
    assert_eq!(dynamodb.len(), 4);
    for statement in dynamodb {
        let actions = list(&statement["Action"]);
        match tagged(&statement["Resource"]) {
            Some((tag, sub)) if tag == "!Sub" => {
                assert_eq!(sub, "${IdempotencyTable.Arn}/index/*");
                assert_eq!(actions, [&Value::from("dynamodb:Query")]);
            }
            other => {
                assert_eq!(
                    other.map(|(_, v)| v.clone()),
                    Some("IdempotencyTable.Arn".into())
                );
                assert!(!actions.contains(&&Value::from("dynamodb:Query")));
                assert!(!actions.contains(&&Value::from("dynamodb:Scan")));
            }
        }
    }
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    assert!(!env["JOBS_IDEMPOTENCY_TABLE"].is_null() && !env["JOBS_LEASE_SECONDS"].is_null());
}

#[test]
fn the_job_binary_and_its_crate_are_parameters_that_sam_build_resolves() {
    let t = template();
    let parameters = &t["Parameters"];
    assert_eq!(parameters["HandlerBinary"]["Type"], "String");
    assert_eq!(parameters["HandlerBinary"]["Default"], "handler");
    assert_eq!(parameters["HandlerCrate"]["Type"], "String");
    // CodeUri is relative to infra/; the default is the shipped crate.
    let default_crate = parameters["HandlerCrate"]["Default"]
        .as_str()
        .expect("a directory");
    let manifest = integration_tests::repo_root()
        .join("infra")
        .join(default_crate)
        .join("Cargo.toml");
    assert!(manifest.is_file(), "{}", manifest.display());
    let function = resource(&t, "HandlerFunction");
    assert_eq!(
        intrinsic(&function["Metadata"]["BuildProperties"]["Binary"], "!Ref"),
        "HandlerBinary"
    );
    assert_eq!(
        intrinsic(&function["Properties"]["CodeUri"], "!Ref"),
        "HandlerCrate"
    );
    assert_eq!(
        intrinsic(&t["Outputs"]["HandlerBinary"]["Value"], "!Ref"),
        "HandlerBinary"
    );
}

#[test]
fn extra_policy_arns_are_attached_to_the_handler_role_only_when_given() {
    let t = template();
    let p = &t["Parameters"]["ExtraPolicyArns"];
    assert_eq!(p["Type"], "CommaDelimitedList");
    assert_eq!(p["Default"], "");
    let arns = intrinsic(&props(&t, "HandlerRole")["ManagedPolicyArns"], "!If");
    let condition = arns[0].as_str().expect("a condition name");
    assert_eq!(intrinsic(&arns[1], "!Ref"), "ExtraPolicyArns");
    assert_eq!(intrinsic(&arns[2], "!Ref"), "AWS::NoValue");
    // The condition: the list, joined, is not empty.
    let not = intrinsic(&t["Conditions"][condition], "!Not");
    let equals = intrinsic(&not[0], "!Equals");
    let join = intrinsic(&equals[0], "!Join");
    assert_eq!(join[0], "");
    assert_eq!(intrinsic(&join[1], "!Ref"), "ExtraPolicyArns");
    assert_eq!(equals[1], "");
}

#[test]
fn app_settings_reach_the_function_as_jobs_app_settings() {
    let t = template();
    let p = &t["Parameters"]["AppSettings"];
    assert_eq!(p["Type"], "String");
    assert_eq!(p["Default"], "");
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(intrinsic(&env["JOBS_APP_SETTINGS"], "!Ref"), "AppSettings");
    assert_eq!(intrinsic(&env["JOBS_MAIL_FROM"], "!Ref"), "SenderAddress");
}

#[test]
fn every_parameter_is_in_one_console_group() {
    let t = template();
    let grouped: Vec<&str> =
        list(&t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"])
            .into_iter()
            .flat_map(|group| list(&group["Parameters"]))
            .filter_map(Value::as_str)
            .collect();
    let parameters: Vec<&str> = t["Parameters"]
        .as_mapping()
        .expect("parameters")
        .keys()
        .filter_map(Value::as_str)
        .collect();
    for name in [
        "HandlerBinary",
        "HandlerCrate",
        "ExtraPolicyArns",
        "AppSettings",
    ] {
        assert!(parameters.contains(&name), "parameter {name}");
    }
    for name in &parameters {
        assert_eq!(
            grouped.iter().filter(|g| *g == name).count(),
            1,
            "{name} is in one parameter group"
        );
    }
    assert_eq!(grouped.len(), parameters.len());
}

#[test]
fn the_shop_example_policy_allows_only_get_item_and_scan_on_its_products_table() {
    let t = load("examples/shop/template.yaml");
    assert_eq!(
        resource(&t, "ProductsTable")["Type"],
        "AWS::DynamoDB::Table"
    );
    let table = props(&t, "ProductsTable");
    assert_eq!(table["KeySchema"][0]["AttributeName"], "product_id");
    assert_eq!(table["KeySchema"][0]["KeyType"], "HASH");
    assert_eq!(
        table["AttributeDefinitions"][0]["AttributeName"],
        "product_id"
    );
    assert_eq!(table["AttributeDefinitions"][0]["AttributeType"], "N");
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["SSESpecification"]["SSEEnabled"], Value::Bool(true));

    let policy = resource(&t, "ProductsReadPolicy");
    assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
    let statements = list(&policy["Properties"]["PolicyDocument"]["Statement"]);
    assert_eq!(statements.len(), 1, "one statement");
    let s = statements[0];
    assert_eq!(s["Effect"], "Allow");
    for key in ["NotAction", "NotResource", "Principal"] {
        assert!(s[key].is_null(), "{key}");
    }
    let actions = list(&s["Action"]);
    assert_eq!(
        actions,
        [
            &Value::from("dynamodb:GetItem"),
            &Value::from("dynamodb:Scan")
        ],
        "a reminder reads one product, the report all"
    );
    let resources = list(&s["Resource"]);
    assert_eq!(resources.len(), 1, "{resources:?}");
    assert_eq!(intrinsic(resources[0], "!GetAtt"), "ProductsTable.Arn");

    assert_eq!(
        intrinsic(&t["Outputs"]["ProductsTableName"]["Value"], "!Ref"),
        "ProductsTable"
    );
    assert_eq!(
        intrinsic(&t["Outputs"]["ProductsReadPolicyArn"]["Value"], "!Ref"),
        "ProductsReadPolicy"
    );
}

#[test]
fn the_shop_examples_local_products_fit_its_table() {
    // What infra/local/moto_setup.py puts in the local products table.
    let path = integration_tests::repo_root().join("examples/shop/local-products.json");
    let text = std::fs::read_to_string(&path).expect("examples/shop/local-products.json");
    let items: Vec<serde_json::Value> = serde_json::from_str(&text).expect("a list of items");
    let product = |id: &str| {
        items
            .iter()
            .find(|item| item["product_id"]["N"] == id)
            .unwrap_or_else(|| panic!("product {id}"))
    };
    for item in &items {
        for (attribute, kind) in [
            ("product_id", "N"),
            ("name", "S"),
            ("owner_email", "S"),
            ("paid", "BOOL"),
        ] {
            assert!(
                !item[attribute][kind].is_null(),
                "{attribute} ({kind}) of {item}"
            );
        }
    }
    let paid = product("42");
    assert_eq!(paid["paid"]["BOOL"].as_bool(), Some(true));
    assert_eq!(paid["owner_email"]["S"], "ann@example.com");
    assert_eq!(paid["name"]["S"], "Espresso machine");
    let unpaid = product("7");
    assert_eq!(unpaid["paid"]["BOOL"].as_bool(), Some(false));
    assert_eq!(unpaid["owner_email"]["S"], "bob@example.com");
    assert_eq!(unpaid["name"]["S"], "Coffee grinder");
}

/// The console lists running jobs, retries and schedules from three sparse
/// indexes that the handler and the producer fill by the names in
/// `producer::contract::ledger`; the template must declare them under the same
/// names and keys, projecting what the console reads.
#[test]
fn the_ledger_indexes_are_the_ones_the_code_writes() {
    use producer::contract::ledger::{field, index};
    let t = template();
    let p = props(&t, "IdempotencyTable");
    let indexes = list(&p["GlobalSecondaryIndexes"]);
    let expected = [
        (
            index::BUSY,
            field::BUSY_SHARD,
            field::CLAIMED_AT,
            vec!["kind", "queue", "beat_at", "lease_until"],
        ),
        (
            index::RETRIES,
            field::RETRY_SHARD,
            field::RETRY_AT,
            vec!["kind", "queue", "attempt", "last_error"],
        ),
        (
            index::SCHEDULED,
            field::SCHEDULED_SHARD,
            field::DUE_AT,
            vec!["id", "kind", "queue_url"],
        ),
    ];
    assert_eq!(indexes.len(), expected.len());
    let declared = list(&p["AttributeDefinitions"]);
    let type_of = |name: &str| {
        declared
            .iter()
            .find(|d| d["AttributeName"] == name)
            .map(|d| d["AttributeType"].clone())
    };
    for (name, hash, range, projected) in expected {
        let declared_index = indexes
            .iter()
            .find(|i| i["IndexName"] == name)
            .unwrap_or_else(|| panic!("an index `{name}`"));
        let keys = list(&declared_index["KeySchema"]);
        assert_eq!(keys[0]["AttributeName"], hash);
        assert_eq!(keys[0]["KeyType"], "HASH");
        assert_eq!(keys[1]["AttributeName"], range);
        assert_eq!(keys[1]["KeyType"], "RANGE");
        assert_eq!(type_of(hash), Some(Value::from("S")), "{hash}");
        assert_eq!(type_of(range), Some(Value::from("N")), "{range}");
        assert_eq!(declared_index["Projection"]["ProjectionType"], "INCLUDE");
        let included: Vec<&str> = list(&declared_index["Projection"]["NonKeyAttributes"])
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(included, projected, "{name}");
    }
}

/// Whether an IAM resource pattern (`*` any run of characters, `?` one)
/// matches `arn`.
fn iam_matches(pattern: &str, arn: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some((b'?', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), arn.as_bytes())
}

/// A `!Sub` resource with the pseudo parameters and `WebhookSecretsPrefix` filled in.
fn resolved_arn(value: &Value, prefix: &str) -> String {
    sub_text(value)
        .replace("${AWS::Partition}", "aws")
        .replace("${AWS::Region}", "us-east-1")
        .replace("${AWS::AccountId}", "123456789012")
        .replace("${WebhookSecretsPrefix}", prefix)
}

/// The signing secrets of `http` jobs: the handler may read the parameters
/// under `WebhookSecretsPrefix` and the Secrets Manager secrets named with it
/// (through SSM's `/aws/reference/secretsmanager/` path), the same ones its own
/// check lets a job name (`JOBS_HTTP_SECRETS_PREFIX`), and nothing wider; no
/// other policy of the stack reads a secret; and the function gets both http
/// settings.
#[test]
fn the_handler_reads_only_the_webhook_secrets_its_setting_allows_and_no_other_policy_reads_any() {
    use handler::http::guard::{ALLOW_ENV, AllowList};
    use handler::http::sign::{SECRETS_MANAGER_PATH, SECRETS_PREFIX_ENV, Secrets};

    let t = template();
    let parameters = &t["Parameters"];
    assert_eq!(parameters["HttpAllow"]["Type"], "String");
    assert_eq!(
        parameters["HttpAllow"]["Default"], "",
        "no network past the guard unless asked"
    );
    assert_eq!(parameters["WebhookSecretsPrefix"]["Type"], "String");
    assert_eq!(
        parameters["WebhookSecretsPrefix"]["Default"],
        "jobs/webhooks/"
    );
    // A path of whole segments, without the leading slash (the ARN has it) and
    // with the trailing one, so `jobs/webhooks/*` is no `jobs/webhooks-prod`.
    assert_eq!(
        parameters["WebhookSecretsPrefix"]["AllowedPattern"],
        "^([A-Za-z0-9_.-]+/)+$"
    );
    let prefix = parameters["WebhookSecretsPrefix"]["Default"]
        .as_str()
        .expect("a string");

    // The settings, on every function (Globals), under the names the handler reads.
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(intrinsic(&env[ALLOW_ENV], "!Ref"), "HttpAllow");
    assert_eq!(
        sub_text(&env[SECRETS_PREFIX_ENV]),
        "/${WebhookSecretsPrefix}"
    );
    for name in ["HandlerFunction", "MailersFunction"] {
        let own = &props(&t, name)["Environment"]["Variables"];
        assert!(
            own[ALLOW_ENV].is_null() && own[SECRETS_PREFIX_ENV].is_null(),
            "{name} overrides the http settings of Globals"
        );
    }
    // What the stack's default and the local stack allow, the handler reads.
    assert!(AllowList::parse("").expect("empty").networks().is_empty());
    let local =
        std::fs::read_to_string(integration_tests::repo_root().join("infra/local/local.sh"))
            .expect("infra/local/local.sh");
    assert!(
        local.lines().any(|l| l == "http_allow=127.0.0.1/32"),
        "the local stack allows 127.0.0.1 alone"
    );
    assert!(local.contains("\"HttpAllow=$http_allow\""));
    assert!(local.contains(&format!("export {ALLOW_ENV}=$http_allow")));
    assert!(local.contains(&format!("export {SECRETS_PREFIX_ENV}=/{prefix}\n")));
    assert_eq!(
        AllowList::parse("127.0.0.1/32")
            .expect("parses")
            .networks()
            .len(),
        1
    );

    // Every grant on SSM, Secrets Manager or KMS in the stack's own policies.
    let secret_service = |action: &str| {
        ["ssm:", "secretsmanager:", "kms:"]
            .iter()
            .any(|service| action.to_ascii_lowercase().starts_with(service))
    };
    let grants: Vec<(&str, &Value)> = allow_statements(&t)
        .into_iter()
        .filter(|(_, s)| {
            for key in ["NotAction", "NotResource"] {
                assert!(s[key].is_null(), "{key} in {s:?}");
            }
            list(&s["Action"])
                .iter()
                .any(|a| a.as_str().is_some_and(secret_service))
        })
        .collect();
    let owners: Vec<&str> = grants.iter().map(|(owner, _)| *owner).collect();
    assert_eq!(
        owners,
        ["HandlerRole", "HandlerRole"],
        "only the handler reads secrets"
    );
    let grant = |sid: &str| {
        grants
            .iter()
            .map(|(_, s)| *s)
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("a {sid} statement"))
    };
    let ssm = grant("ReadWebhookSecrets");
    assert_eq!(list(&ssm["Action"]), [&Value::from("ssm:GetParameter")]);
    let ssm_resources: Vec<String> = list(&ssm["Resource"])
        .into_iter()
        .map(|r| resolved_arn(r, prefix))
        .collect();
    let parameter_arn = |name: &str| format!("arn:aws:ssm:us-east-1:123456789012:parameter{name}");
    assert_eq!(
        ssm_resources,
        [
            parameter_arn(&format!("/{prefix}*")),
            parameter_arn(&format!("{SECRETS_MANAGER_PATH}/{prefix}*")),
        ]
    );
    let secrets_manager = grant("ReadWebhookSecretsFromSecretsManager");
    assert_eq!(
        list(&secrets_manager["Action"]),
        [&Value::from("secretsmanager:GetSecretValue")]
    );
    let secret_resources: Vec<String> = list(&secrets_manager["Resource"])
        .into_iter()
        .map(|r| resolved_arn(r, prefix))
        .collect();
    assert_eq!(
        secret_resources,
        [format!(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:{prefix}*"
        )]
    );

    // IAM and the handler's own check agree, name by name: what a job may name
    // the role may read, and what it may not, the role cannot read either.
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let secrets = Secrets::new(&config, Some(format!("/{prefix}")));
    let iam_reads_parameter = |name: &str| {
        ssm_resources
            .iter()
            .any(|r| iam_matches(r, &parameter_arn(name)))
    };
    for (name, readable) in [
        ("/jobs/webhooks/partner", true),
        ("/jobs/webhooks/partners/acme", true),
        ("/aws/reference/secretsmanager/jobs/webhooks/partner", true),
        ("/jobs/webhooks", false),
        ("/jobs/webhooks-prod/partner", false),
        ("/jobs/webhookspartner", false),
        ("/jobs/database/password", false),
        ("/prod/db/password", false),
        ("/aws/reference/secretsmanager/prod/db", false),
        ("/aws/reference/secretsmanager/jobs/webhooks", false),
        (
            "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
            false,
        ),
    ] {
        assert_eq!(
            secrets.allowed(name),
            readable,
            "the handler's check of {name}"
        );
        assert_eq!(iam_reads_parameter(name), readable, "the role on {name}");
    }
    // Secrets Manager ARNs end in `-` and six random characters.
    let secret_arn =
        |name: &str| format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf");
    for (name, readable) in [
        ("jobs/webhooks/partner", true),
        ("jobs/webhooks-prod/partner", false),
        ("prod/db", false),
    ] {
        assert_eq!(
            iam_matches(&secret_resources[0], &secret_arn(name)),
            readable,
            "the role on the secret {name}"
        );
    }
}

/// Every schedule: its expression read in a time zone, on or off by a
/// parameter, retried and dead-lettered, with a role of its own that may
/// send to its queue alone (and its failed firings to the schedules'
/// dead-letter queue), and an envelope whose id and `created_at` are the
/// firing's time.
#[test]
fn each_schedule_has_its_own_role_a_retry_policy_a_dead_letter_queue_and_a_per_firing_id() {
    let t = template();
    let Value::Mapping(resources) = &t["Resources"] else {
        panic!("no resources")
    };
    let schedules: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::Scheduler::Schedule")
        .collect();
    assert!(!schedules.is_empty(), "the example schedule");
    let mut roles = Vec::new();
    for schedule in schedules {
        let p = &schedule["Properties"];
        assert_eq!(intrinsic(&p["GroupName"], "!Ref"), "ScheduleGroup");
        // Each a parameter of the stack, or a literal.
        for (property, allowed) in [
            ("ScheduleExpression", None),
            ("ScheduleExpressionTimezone", None),
            ("State", Some(["ENABLED", "DISABLED"])),
        ] {
            let value = &p[property];
            let allowed: Option<Vec<Value>> = allowed.map(|a| a.map(Value::from).to_vec());
            match tagged(value) {
                Some((tag, parameter)) if tag == "!Ref" => {
                    let declared = &t["Parameters"][parameter.as_str().unwrap_or_default()];
                    assert!(!declared.is_null(), "{property}: {parameter:?}");
                    if let Some(allowed) = &allowed {
                        let values: Vec<Value> = list(&declared["AllowedValues"])
                            .into_iter()
                            .cloned()
                            .collect();
                        assert_eq!(&values, allowed, "{property}");
                    }
                }
                _ => {
                    assert!(value.as_str().is_some_and(|v| !v.is_empty()), "{property}");
                    if let Some(allowed) = &allowed {
                        assert!(allowed.contains(value), "{property}: {value:?}");
                    }
                }
            }
        }
        assert_eq!(p["FlexibleTimeWindow"]["Mode"], "OFF");
        let target = &p["Target"];
        assert!(number(&target["RetryPolicy"]["MaximumRetryAttempts"]) > 0);
        assert!(number(&target["RetryPolicy"]["MaximumEventAgeInSeconds"]) >= 3_600);
        assert_eq!(
            intrinsic(&target["DeadLetterConfig"]["Arn"], "!GetAtt"),
            "ScheduleDeadLetterQueue.Arn"
        );
        let queue = intrinsic(&target["Arn"], "!GetAtt")
            .as_str()
            .expect("a queue")
            .to_owned();
        let role = intrinsic(&target["RoleArn"], "!GetAtt")
            .as_str()
            .and_then(|r| r.strip_suffix(".Arn"))
            .expect("a role of the template")
            .to_owned();
        let role_props = props(&t, &role);
        let trust = list(&role_props["AssumeRolePolicyDocument"]["Statement"]);
        assert_eq!(trust.len(), 1);
        assert_eq!(trust[0]["Principal"]["Service"], "scheduler.amazonaws.com");
        assert!(!trust[0]["Condition"]["StringEquals"]["aws:SourceAccount"].is_null());
        let mut grants = Vec::new();
        for policy in list(&role_props["Policies"]) {
            for s in list(&policy["PolicyDocument"]["Statement"]) {
                assert_eq!(s["Effect"], "Allow");
                for action in list(&s["Action"]) {
                    for resource in list(&s["Resource"]) {
                        grants.push((
                            action.as_str().unwrap_or_default().to_owned(),
                            intrinsic(resource, "!GetAtt")
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        ));
                    }
                }
            }
        }
        grants.sort();
        let mut expected = vec![
            ("sqs:SendMessage".to_owned(), queue.clone()),
            (
                "sqs:SendMessage".to_owned(),
                "ScheduleDeadLetterQueue.Arn".to_owned(),
            ),
        ];
        expected.sort();
        assert_eq!(grants, expected, "{role} may send to its queue alone");
        roles.push(role);

        // The envelope: each firing's time in its id and created_at, and a
        // valid envelope once the scheduler and CloudFormation have filled it.
        let input = sub_text(&target["Input"])
            .replace("${UploadBucket}", "jobs-uploads")
            .replace(operations::periodic::SCHEDULED_TIME, "2026-12-04T02:00:00Z");
        let envelope = producer::Envelope::decode(&input).expect("an envelope");
        envelope.validate().expect("valid");
        assert!(
            envelope.id.ends_with("-2026-12-04T02:00:00Z"),
            "{}",
            envelope.id
        );
        assert_eq!(envelope.created_at, "2026-12-04T02:00:00Z");
    }
    let unique: std::collections::BTreeSet<_> = roles.iter().collect();
    assert_eq!(unique.len(), roles.len(), "one role per schedule");
    assert!(!t["Outputs"]["ScheduleGroupName"].is_null());
}
