use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // No foreign key on `customer_id`: events for customers latchkey does not know yet
        // are recorded too.
        manager
            .create_table(
                Table::create()
                    .table(WebhookEvents::Table)
                    .if_not_exists()
                    // Stripe's event id: a redelivered event hits this key and changes nothing.
                    .col(string(WebhookEvents::Id).primary_key())
                    .col(string(WebhookEvents::EventType))
                    .col(string_null(WebhookEvents::CustomerId))
                    .col(timestamp_with_time_zone(WebhookEvents::EventCreatedAt))
                    .col(timestamp_with_time_zone(WebhookEvents::ReceivedAt))
                    .col(string(WebhookEvents::Outcome))
                    .col(json_binary_null(WebhookEvents::Payload))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum WebhookEvents {
    Table,
    Id,
    EventType,
    CustomerId,
    EventCreatedAt,
    ReceivedAt,
    Outcome,
    Payload,
}
