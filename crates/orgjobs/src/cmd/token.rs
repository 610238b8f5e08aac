//! `orgjobs token create|list|revoke`: API tokens for `orgjobs serve`.

use std::process::ExitCode;

use clap::Subcommand;
use orgjobs_queue::{DbUrl, TokenRole, create_token, list_tokens, revoke_token};
use uuid::Uuid;

/// `orgjobs token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once: only its hash is stored). With
    /// `--org`, an organization's token with `--role admin|agent|viewer`;
    /// without, an operator token.
    Create {
        /// The organization (leave out for an operator token).
        #[arg(long)]
        org: Option<Uuid>,
        /// admin, agent or viewer (organization tokens); operator.
        #[arg(long)]
        role: Option<TokenRole>,
        /// A name to recognise it by in `token list`.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tokens (without secrets), newest first.
    List {
        /// Only this organization's.
        #[arg(long)]
        org: Option<Uuid>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id: refused from its next request on.
    Revoke {
        /// The token's id (the part after `ojt_`, or as `token list` shows it).
        id: Uuid,
    },
}

/// Runs a `token` subcommand.
pub async fn run(url: &str, cmd: &TokenCommand) -> anyhow::Result<ExitCode> {
    let client = DbUrl::parse(url)?.connect().await?;
    match cmd {
        TokenCommand::Create { org, role, name } => {
            let role = match (org, role) {
                (None, None) => TokenRole::Operator,
                (Some(_), None) => {
                    anyhow::bail!("an organization's token needs --role admin, agent or viewer")
                }
                (_, Some(r)) => *r,
            };
            let new = create_token(&client, *org, role, name).await?;
            eprintln!(
                "token {} ({role}{}) created; it is shown once:",
                new.id,
                org.map(|o| format!(" of organization {o}"))
                    .unwrap_or_default()
            );
            println!("{}", new.token);
        }
        TokenCommand::List { org, json } => {
            let tokens = list_tokens(&client, *org).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                println!(
                    "{:<36} {:<36} {:<8} {:<20} {:<25} revoked",
                    "id", "organization", "role", "name", "last used"
                );
                for t in &tokens {
                    println!(
                        "{:<36} {:<36} {:<8} {:<20} {:<25} {}",
                        t.id,
                        t.organization_id
                            .map_or_else(|| "(operator)".to_owned(), |o| o.to_string()),
                        t.role,
                        t.name,
                        t.last_used_at
                            .map_or_else(|| "never".to_owned(), |d| d.to_rfc3339()),
                        t.revoked_at.map(|d| d.to_rfc3339()).unwrap_or_default()
                    );
                }
            }
        }
        TokenCommand::Revoke { id } => {
            if !revoke_token(&client, *id).await? {
                anyhow::bail!("no live token with id {id} (unknown or already revoked)");
            }
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
