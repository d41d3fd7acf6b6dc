use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Security events (docs/operations.md, "Security events"): what a user or an operator reads
/// back after an incident. No foreign key to `users`: an event outlives the session it names,
/// `login_failed` may have no user, and erasing a user replaces their events with one
/// `account_deleted` row that must stay.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SecurityEvents::Table)
                    .if_not_exists()
                    .col(
                        big_integer(SecurityEvents::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(timestamp_with_time_zone(SecurityEvents::At))
                    .col(string(SecurityEvents::Kind))
                    .col(uuid_null(SecurityEvents::UserId))
                    .col(string(SecurityEvents::Actor))
                    .col(string_null(SecurityEvents::SessionId))
                    .col(string_null(SecurityEvents::Ip))
                    .col(string_null(SecurityEvents::Device))
                    .col(string_null(SecurityEvents::Reason))
                    .col(text_null(SecurityEvents::Details))
                    .to_owned(),
            )
            .await?;
        // A user's own events, newest first (`/api/user/events`, `audit --user`).
        manager
            .create_index(
                Index::create()
                    .name("idx_security_events_user_id_at")
                    .table(SecurityEvents::Table)
                    .col(SecurityEvents::UserId)
                    .col(SecurityEvents::At)
                    .to_owned(),
            )
            .await?;
        // The whole deployment's, newest first, and the retention's pruning.
        manager
            .create_index(
                Index::create()
                    .name("idx_security_events_at")
                    .table(SecurityEvents::Table)
                    .col(SecurityEvents::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SecurityEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SecurityEvents {
    Table,
    Id,
    At,
    Kind,
    UserId,
    Actor,
    SessionId,
    Ip,
    Device,
    Reason,
    Details,
}
