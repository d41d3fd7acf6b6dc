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
                    .table(UsageEvents::Table)
                    .if_not_exists()
                    .col(big_integer(UsageEvents::Id).auto_increment().primary_key())
                    .col(uuid(UsageEvents::UserId))
                    .col(string(UsageEvents::Kind))
                    .col(timestamp_with_time_zone(UsageEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_usage_events_user_id")
                            .from(UsageEvents::Table, UsageEvents::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // Serves "how many calls has this user made since midnight UTC".
        manager
            .create_index(
                Index::create()
                    .name("idx_usage_events_user_id_created_at")
                    .table(UsageEvents::Table)
                    .col(UsageEvents::UserId)
                    .col(UsageEvents::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UsageEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    Id,
    UserId,
    Kind,
    CreatedAt,
}
