use sea_orm_migration::{prelude::*, schema::*};

use super::m20261124_000002_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Subscriptions::Table)
                    .if_not_exists()
                    // Stripe's subscription id.
                    .col(string(Subscriptions::Id).primary_key())
                    .col(uuid_null(Subscriptions::UserId))
                    .col(string(Subscriptions::CustomerId))
                    .col(string(Subscriptions::Status))
                    .col(string_null(Subscriptions::PriceId))
                    .col(timestamp_with_time_zone_null(
                        Subscriptions::CurrentPeriodEnd,
                    ))
                    .col(boolean(Subscriptions::CancelAtPeriodEnd).default(false))
                    // `created` of the newest Stripe event applied; older events arriving
                    // late are ignored.
                    .col(timestamp_with_time_zone(Subscriptions::LastEventAt))
                    .col(timestamp_with_time_zone(Subscriptions::CreatedAt))
                    .col(timestamp_with_time_zone(Subscriptions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_subscriptions_user_id")
                            .from(Subscriptions::Table, Subscriptions::UserId)
                            .to(Users::Table, Users::Id)
                            // Erasing a user keeps the billing records, detached.
                            .on_delete(ForeignKeyAction::SetNull)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // Stripe events name the customer, not the user.
        manager
            .create_index(
                Index::create()
                    .name("idx_subscriptions_customer_id")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::CustomerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_subscriptions_user_id")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Subscriptions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    Id,
    UserId,
    CustomerId,
    Status,
    PriceId,
    CurrentPeriodEnd,
    CancelAtPeriodEnd,
    LastEventAt,
    CreatedAt,
    UpdatedAt,
}
