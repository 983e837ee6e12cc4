//! The shop's products: a DynamoDB table, or a map for unit tests.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use handler::JobError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: u64,
    pub name: String,
    pub owner_email: String,
    pub paid: bool,
}

/// Where products are read from.
#[derive(Debug, Clone)]
pub enum Products {
    /// A table keyed by `product_id` (a number), with `name`, `owner_email`
    /// and `paid` (a boolean).
    DynamoDb {
        client: aws_sdk_dynamodb::Client,
        table: String,
    },
    /// A fixed set, for tests with no AWS.
    InMemory(HashMap<u64, Product>),
}

impl Products {
    pub fn dynamodb(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Products::DynamoDb {
            client,
            table: table.into(),
        }
    }

    pub fn in_memory(products: impl IntoIterator<Item = Product>) -> Self {
        Products::InMemory(products.into_iter().map(|p| (p.id, p)).collect())
    }

    /// The product as it is now. A product that does not exist will not appear
    /// by retrying: that failure is permanent. DynamoDB's own errors are sorted
    /// by `?` (throttling comes back, a missing table does not).
    pub async fn find(&self, id: u64) -> Result<Product, JobError> {
        match self {
            Products::InMemory(products) => products
                .get(&id)
                .cloned()
                .ok_or_else(|| JobError::permanent(format!("product {id} does not exist"))),
            Products::DynamoDb { client, table } => {
                let item = client
                    .get_item()
                    .table_name(table)
                    .key("product_id", AttributeValue::N(id.to_string()))
                    .consistent_read(true)
                    .send()
                    .await?
                    .item
                    .ok_or_else(|| {
                        JobError::permanent(format!("product {id} does not exist in `{table}`"))
                    })?;
                product_of(&item)
            }
        }
    }

    /// Every product, by id. DynamoDB's `Scan`, page by page: a report reads
    /// the whole table.
    pub async fn all(&self) -> Result<Vec<Product>, JobError> {
        let mut products = match self {
            Products::InMemory(products) => products.values().cloned().collect(),
            Products::DynamoDb { client, table } => {
                let mut products = Vec::new();
                let mut pages = client.scan().table_name(table).into_paginator().send();
                while let Some(page) = pages.next().await {
                    for item in page?.items.unwrap_or_default() {
                        products.push(product_of(&item)?);
                    }
                }
                products
            }
        };
        products.sort_by_key(|p: &Product| p.id);
        Ok(products)
    }
}

/// A product from its DynamoDB item; an item without its key, name or owner
/// is the table's fault, not a passing one.
fn product_of(item: &HashMap<String, AttributeValue>) -> Result<Product, JobError> {
    let id = item
        .get("product_id")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| JobError::permanent("a product item has no numeric `product_id`"))?;
    let text = |key: &str| {
        item.get(key)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| JobError::permanent(format!("product {id} has no text `{key}`")))
    };
    Ok(Product {
        id,
        name: text("name")?,
        owner_email: text("owner_email")?,
        paid: item
            .get("paid")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
    })
}
