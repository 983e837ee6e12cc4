"""Creates in moto the resources of infra/template.yaml that moto serves here.

A LocalStack stack cannot create them (its free edition has no SES v2, and its
DynamoDB needs a download), so the local setup reads them from the same
template: the sender identity from the SenderAddress parameter, each
AWS::SES::Template as is, and each AWS::DynamoDB::Table under the name given.

usage: moto_setup.py TEMPLATE_YAML SENDER_ADDRESS IDEMPOTENCY_TABLE_NAME
       (endpoint from AWS_ENDPOINT_URL_SESV2)
"""

import os
import sys

import boto3
import yaml


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML; intrinsic functions (!Ref, !Sub…) become plain values."""


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def main() -> int:
    template_path, sender, table_name = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(template_path, encoding="utf-8") as f:
        template = yaml.load(f, Loader=CfnLoader)
    ses = boto3.client(
        "sesv2",
        endpoint_url=os.environ["AWS_ENDPOINT_URL_SESV2"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )
    ses_v1 = boto3.client(
        "ses",
        endpoint_url=os.environ["AWS_ENDPOINT_URL_SESV2"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )
    ses.create_email_identity(EmailIdentity=sender)
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::SES::Template":
            continue
        spec = resource["Properties"]["Template"]
        # moto 5.2 has no SES v2 CreateEmailTemplate; SES v1 CreateTemplate takes the
        # same fields as AWS::SES::Template and fills the store both APIs share.
        ses_v1.create_template(Template=spec)
        print(f"[local-aws] SES template {spec['TemplateName']} ({name}) created in moto", file=sys.stderr)
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=os.environ["AWS_ENDPOINT_URL_SESV2"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        spec = resource["Properties"]
        dynamodb.create_table(
            TableName=table_name,
            AttributeDefinitions=spec["AttributeDefinitions"],
            KeySchema=spec["KeySchema"],
            BillingMode=spec["BillingMode"],
        )
        ttl = spec.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
        print(f"[local-aws] DynamoDB table {table_name} ({name}) created in moto", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
