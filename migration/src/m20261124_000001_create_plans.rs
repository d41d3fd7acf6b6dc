use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The plans every deployment has. Free's daily limit is configuration, not data, so only
/// "unlimited" is stored.
const SEED: [(&str, &str, bool); 2] = [("free", "Free", false), ("pro", "Pro", true)];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Plans::Table)
                    .if_not_exists()
                    .col(string(Plans::Name).primary_key())
                    .col(string(Plans::DisplayName))
                    .col(boolean(Plans::Unlimited).default(false))
                    .col(
                        timestamp_with_time_zone(Plans::CreatedAt)
                            .default(Expr::current_timestamp()),
                    )
                    .to_owned(),
            )
            .await?;

        // Seeded here rather than by the application so that `plans` is never empty and
        // `users.plan` (default "free") always has a row to refer to; `down` removes them
        // with the table.
        let mut seed = Query::insert();
        seed.into_table(Plans::Table)
            .columns([Plans::Name, Plans::DisplayName, Plans::Unlimited]);
        for (name, display_name, unlimited) in SEED {
            seed.values([name.into(), display_name.into(), unlimited.into()])
                .map_err(|e| DbErr::Migration(e.to_string()))?;
        }
        manager.exec_stmt(seed).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Plans::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Plans {
    Table,
    Name,
    DisplayName,
    Unlimited,
    CreatedAt,
}
