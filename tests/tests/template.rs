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
    let (tag, args) = tagged(&props(&t, "JobQueue")["VisibilityTimeout"]).expect("!FindInMap");
    assert_eq!(tag, "!FindInMap");
    assert_eq!(args[0], "VisibilityByTimeout");
    assert_eq!(
        tagged(&args[1]).map(|(tag, v)| (tag, v.clone())),
        Some(("!Ref".into(), "FunctionTimeout".into()))
    );
}

#[test]
fn queues_are_encrypted_and_the_dead_letter_queue_outlives_the_job_queue() {
    let t = template();
    let dlq = number(&props(&t, "DeadLetterQueue")["MessageRetentionPeriod"]);
    let queue = number(&props(&t, "JobQueue")["MessageRetentionPeriod"]);
    assert_eq!(dlq, 14 * 24 * 3600);
    assert!(dlq > queue);
    for name in ["JobQueue", "DeadLetterQueue"] {
        assert_eq!(
            props(&t, name)["SqsManagedSseEnabled"],
            Value::Bool(true),
            "{name}"
        );
    }
    let redrive = &props(&t, "JobQueue")["RedrivePolicy"];
    assert_eq!(
        tagged(&redrive["deadLetterTargetArn"])
            .map(|(tag, _)| tag)
            .as_deref(),
        Some("!GetAtt")
    );
    assert_eq!(
        tagged(&redrive["maxReceiveCount"]).map(|(_, v)| v.clone()),
        Some("MaxReceiveCount".into())
    );
    assert!(
        number(&t["Parameters"]["MaxReceiveCount"]["MinValue"]) >= 2,
        "one delivery is no retry"
    );
}

#[test]
fn the_function_reports_batch_item_failures_with_bounded_concurrency() {
    let t = template();
    let function = resource(&t, "HandlerFunction");
    assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda");
    let p = &function["Properties"];
    assert_eq!(p["Runtime"], "provided.al2023");
    assert_eq!(list(&p["Architectures"]), [&Value::from("arm64")]);
    assert!(
        p["Policies"].is_null(),
        "permissions come from HandlerRole alone"
    );
    assert_eq!(
        tagged(&p["Role"]).map(|(tag, v)| (tag, v.clone())),
        Some(("!GetAtt".into(), "HandlerRole.Arn".into()))
    );
    let event = &p["Events"]["Jobs"];
    assert_eq!(event["Type"], "SQS");
    let e = &event["Properties"];
    assert!(list(&e["FunctionResponseTypes"]).contains(&&Value::from("ReportBatchItemFailures")));
    for key in ["BatchSize", "MaximumBatchingWindowInSeconds"] {
        assert!(!e[key].is_null(), "{key}");
    }
    assert!(!e["ScalingConfig"]["MaximumConcurrency"].is_null());
    assert!(!p["LoggingConfig"]["LogGroup"].is_null());
    assert!(
        !props(&t, "HandlerLogGroup")["RetentionInDays"].is_null(),
        "log retention is set"
    );
}

/// Every statement of the function's role and of the producer policy.
fn allow_statements(t: &Value) -> Vec<(&'static str, &Value)> {
    let mut statements = Vec::new();
    for policy in list(&props(t, "HandlerRole")["Policies"]) {
        for s in list(&policy["PolicyDocument"]["Statement"]) {
            statements.push(("HandlerRole", s));
        }
    }
    for s in list(&props(t, "ProducerPolicy")["PolicyDocument"]["Statement"]) {
        statements.push(("ProducerPolicy", when_deployed(s)));
    }
    statements
}

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
    for (owner, s) in statements {
        assert_eq!(s["Effect"], "Allow", "{owner}");
        for action in list(&s["Action"]) {
            let action = action.as_str().expect("actions are plain strings");
            assert!(!action.contains('*'), "{owner}: wildcard action {action}");
        }
        let resources = list(&s["Resource"]);
        assert!(
            !resources.is_empty(),
            "{owner}: a statement without resources"
        );
        for resource in resources {
            assert_ne!(resource.as_str(), Some("*"), "{owner}: Resource \"*\"");
        }
    }
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
            "dynamodb:PutItem",
            "dynamodb:GetItem"
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
    // the record that stopped it.
    assert_eq!(
        list(&cancel["Action"]),
        [
            &Value::from("dynamodb:PutItem"),
            &Value::from("dynamodb:GetItem")
        ]
    );
    let arn = intrinsic(&cancel["Resource"], "!GetAtt");
    assert_eq!(arn, "IdempotencyTable.Arn");
    let output = &t["Outputs"]["IdempotencyTableName"];
    assert_eq!(intrinsic(&output["Value"], "!Ref"), "IdempotencyTable");
    assert_eq!(output["Condition"], "WithFunction");
}

#[test]
fn the_function_knows_its_queue_and_the_receive_count_is_a_ceiling_above_the_retry_limits() {
    let t = template();
    let env = &props(&t, "HandlerFunction")["Environment"]["Variables"];
    assert_eq!(intrinsic(&env["JOBS_QUEUE_URL"], "!Ref"), "JobQueue");
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

#[test]
fn the_bucket_is_private_encrypted_owner_enforced_and_tls_only() {
    let t = template();
    let p = props(&t, "UploadBucket");
    for key in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            p["PublicAccessBlockConfiguration"][key],
            Value::Bool(true),
            "{key}"
        );
    }
    assert!(!p["BucketEncryption"]["ServerSideEncryptionConfiguration"].is_null());
    assert_eq!(
        p["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
        "BucketOwnerEnforced"
    );
    let statements = list(&props(&t, "UploadBucketPolicy")["PolicyDocument"]["Statement"]);
    assert!(
        statements
            .iter()
            .any(|s| s["Effect"] == "Deny"
                && s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
    );
}

#[test]
fn alarms_watch_the_dead_letters_the_oldest_job_errors_and_throttles() {
    let t = template();
    for (name, metric) in [
        (
            "DeadLetterQueueNotEmptyAlarm",
            "ApproximateNumberOfMessagesVisible",
        ),
        ("OldestJobTooOldAlarm", "ApproximateAgeOfOldestMessage"),
        ("HandlerErrorsAlarm", "Errors"),
        ("HandlerThrottlesAlarm", "Throttles"),
    ] {
        let p = props(&t, name);
        assert_eq!(p["MetricName"], metric, "{name}");
        let actions = list(&p["AlarmActions"]);
        assert!(
            actions
                .iter()
                .any(|a| tagged(a).map(|(_, v)| v.clone()) == Some("AlarmTopic".into())),
            "{name}"
        );
    }
    let dlq_dimension = &props(&t, "DeadLetterQueueNotEmptyAlarm")["Dimensions"][0]["Value"];
    assert_eq!(
        tagged(dlq_dimension).map(|(_, v)| v.clone()),
        Some("DeadLetterQueue.QueueName".into())
    );
    assert!(!resource(&t, "Dashboard").is_null());
    for output in [
        "JobQueueUrl",
        "JobQueueArn",
        "DeadLetterQueueUrl",
        "DeadLetterQueueArn",
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
    // The handler's role, and the producer policy's cancel.
    assert_eq!(dynamodb.len(), 2);
    for statement in dynamodb {
        assert_eq!(
            tagged(&statement["Resource"]).map(|(_, v)| v.clone()),
            Some("IdempotencyTable.Arn".into())
        );
    }
    let env = &props(&t, "HandlerFunction")["Environment"]["Variables"];
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
    let env = &props(&t, "HandlerFunction")["Environment"]["Variables"];
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
fn the_shop_example_policy_allows_only_get_item_on_its_products_table() {
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
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0], "dynamodb:GetItem");
    assert!(tagged(actions[0]).is_none(), "a plain action");
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
