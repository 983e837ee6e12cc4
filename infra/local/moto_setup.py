"""Creates in moto the resources of infra/template.yaml that moto serves here.

A LocalStack stack cannot create them (its free edition has no SES v2, and its
DynamoDB needs a download), so the local setup reads them from the same
templates: the sender identity from the SenderAddress parameter, each
AWS::SES::Template as is, the main template's AWS::DynamoDB::Table (the
idempotency table, with its indexes) under the name given, and the tables of other templates
(the shop example's products table) under the names --table gives, with the
items --seed gives.

usage: moto_setup.py TEMPLATE_YAML SENDER_ADDRESS IDEMPOTENCY_TABLE_NAME
                     [--table TEMPLATE_YAML:LOGICAL_ID=NAME]... [--seed NAME=ITEMS_JSON]...
       (endpoints from AWS_ENDPOINT_URL_SESV2 and AWS_ENDPOINT_URL_DYNAMODB, which
       defaults to the SES v2 one; ITEMS_JSON is a list of items in DynamoDB's
       typed JSON, {"product_id": {"N": "42"}, ...})
"""

import argparse
import json
import os
import sys

import boto3
import yaml


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML; intrinsic functions (!Ref, !Sub…) become plain values."""


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def say(message: str) -> None:
    print(f"[local-aws] {message}", file=sys.stderr)


def load_template(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)


def tables_of(template: dict) -> dict:
    return {
        name: resource
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::DynamoDB::Table"
    }


def table_arg(value: str) -> tuple[str, str, str]:
    """TEMPLATE_YAML:LOGICAL_ID=NAME -> (template path, logical id, table name)."""
    left, _, name = value.rpartition("=")
    path, _, logical_id = left.rpartition(":")
    if not (path and logical_id and name):
        raise argparse.ArgumentTypeError(f"--table must look like TEMPLATE_YAML:LOGICAL_ID=NAME, not {value!r}")
    return path, logical_id, name


def seed_arg(value: str) -> tuple[str, str]:
    """NAME=ITEMS_JSON -> (table name, items file)."""
    name, _, path = value.partition("=")
    if not (name and path):
        raise argparse.ArgumentTypeError(f"--seed must look like NAME=ITEMS_JSON, not {value!r}")
    return name, path


def create_table(dynamodb, name: str, logical_id: str, spec: dict) -> None:
    # The keys, the billing mode and the indexes, as the template declares them;
    # encryption and TTL settings are the account's business, but the console's
    # queries need the indexes.
    table = {
        "TableName": name,
        "AttributeDefinitions": spec["AttributeDefinitions"],
        "KeySchema": spec["KeySchema"],
        "BillingMode": spec["BillingMode"],
    }
    for indexes in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if spec.get(indexes):
            table[indexes] = spec[indexes]
    dynamodb.create_table(**table)
    ttl = spec.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    say(f"DynamoDB table {name} ({logical_id}) created in moto")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template")
    parser.add_argument("sender")
    parser.add_argument("idempotency_table")
    parser.add_argument("--table", type=table_arg, action="append", default=[])
    parser.add_argument("--seed", type=seed_arg, action="append", default=[])
    args = parser.parse_args()

    region = os.environ.get("AWS_REGION", "us-east-1")
    ses_url = os.environ["AWS_ENDPOINT_URL_SESV2"]
    ses = boto3.client("sesv2", endpoint_url=ses_url, region_name=region)
    # moto 5.2 has no SES v2 CreateEmailTemplate; SES v1 CreateTemplate takes the
    # same fields as AWS::SES::Template and fills the store both APIs share.
    ses_v1 = boto3.client("ses", endpoint_url=ses_url, region_name=region)
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", ses_url),
        region_name=region,
    )

    # Every table to create and every seed, read before anything is created: the
    # main template's one table (the idempotency table; a second one would need a
    # name of its own, --table), then the ones --table names.
    template = load_template(args.template)
    named = {(os.path.realpath(path), logical_id) for path, logical_id, _ in args.table}
    main_tables = tables_of(template)
    unnamed = [i for i in main_tables if (os.path.realpath(args.template), i) not in named]
    if len(unnamed) > 1:
        sys.exit(f"{args.template} has tables {', '.join(unnamed)}: name all but the idempotency table with --table")
    to_create = [(args.idempotency_table, i, main_tables[i]["Properties"]) for i in unnamed]
    for path, logical_id, name in args.table:
        tables = tables_of(load_template(path))
        if logical_id not in tables:
            sys.exit(f"{path} has no AWS::DynamoDB::Table {logical_id} (it has: {', '.join(tables) or 'none'})")
        to_create.append((name, logical_id, tables[logical_id]["Properties"]))
    seeds = []
    for name, path in args.seed:
        with open(path, encoding="utf-8") as f:
            seeds.append((name, os.path.basename(path), json.load(f)))

    ses.create_email_identity(EmailIdentity=args.sender)
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::SES::Template":
            continue
        spec = resource["Properties"]["Template"]
        ses_v1.create_template(Template=spec)
        say(f"SES template {spec['TemplateName']} ({name}) created in moto")

    for name, logical_id, spec in to_create:
        create_table(dynamodb, name, logical_id, spec)

    for name, source, items in seeds:
        for item in items:
            dynamodb.put_item(TableName=name, Item=item)
        say(f"DynamoDB table {name}: {len(items)} items from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
