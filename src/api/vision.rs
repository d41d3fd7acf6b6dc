//! `POST /api/openai/extract-subtitles`: the extension's background worker posts a frame as
//! the multipart part `image`; we check it, take one unit of the daily quota, and ask the
//! vision API. The client never sees the key or anything of the upstream answer but the text.

use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::extract::Authenticated;
use crate::api::responses::Succeeded;
use crate::api::responses::Unauthenticated;
use crate::api::state::AppState;
use crate::http::error::ErrorBody;
use crate::http::error::Flag;
use crate::http::ApiError;
use crate::session::now_ms;
use crate::vision::quota::{Quota, QuotaError};
use crate::vision::{ImageKind, UpstreamError};

/// Room for the multipart framing and small fields beside the image.
const MULTIPART_OVERHEAD: usize = 16 * 1024;
/// The most parts an upload may have: the extension sends one.
const MAX_PARTS: usize = 8;

/// The multipart form the extension posts.
#[derive(ToSchema)]
#[allow(dead_code)] // read as a stream, never as this type: it is only the form's schema
pub struct SubtitleUpload {
    /// The frame: PNG, JPEG or WebP (by its magic bytes), at most `vision.max_image_bytes`.
    /// The example is the start of a WebP file.
    #[schema(value_type = String, format = Binary, example = "RIFF0000WEBPVP8 ")]
    image: Vec<u8>,
}

/// `POST /api/openai/extract-subtitles`'s answer.
#[derive(Serialize, ToSchema)]
pub struct Subtitles {
    success: Succeeded,
    /// The text read from the frame, trimmed; empty when there is none.
    subtitles: String,
}

#[utoipa::path(
    post,
    path = "/api/openai/extract-subtitles",
    tag = "vision",
    summary = "Read the subtitle in a video frame",
    description = "Reads the subtitle text of a video frame through the vision API, counting \
        one unit of the daily quota on success (`free`: `plans.free.daily_ocr_limit` a day; \
        `pro`: unlimited). Needs a session, no CSRF header: an unsafe method from a foreign \
        `Origin` is refused anyway.",
    security(("session" = []), ("bearer" = [])),
    request_body(content = SubtitleUpload, content_type = "multipart/form-data",
        description = "The frame as the multipart part `image`; other parts are ignored."),
    responses(
        (status = 200, description = "The subtitle text.", body = Subtitles),
        (status = 400, description = "`missing_image`: no part named `image`; or \
            `invalid_multipart`: the body is not multipart/form-data.", body = ErrorBody),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "`origin_not_allowed`: the request's `Origin` is not an \
            allowed one.", body = ErrorBody),
        (status = 413, description = "`image_too_large`: larger than `vision.max_image_bytes`.",
            body = ErrorBody),
        (status = 415, description = "`not_an_image`: not PNG, JPEG or WebP.", body = ErrorBody),
        (status = 429, description = "`quota_exceeded`: today's quota is used up (`Retry-After` \
            is the time until midnight UTC); `quota_busy`: what is left of today's quota is \
            held by the user's calls still in progress (`Retry-After` is `vision.timeout`, \
            after which each of them has been counted or given back); or `rate_limited`.",
            body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again."))),
        (status = 502, description = "`upstream_error`: the vision API failed.", body = ErrorBody),
        (status = 503, description = "`vision_unavailable`: no vision API key is configured; or \
            `session_store_unavailable`.", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again."))),
        (status = 504, description = "`upstream_timeout`: the vision API did not answer in \
            time.", body = ErrorBody),
    )
)]
pub async fn extract_subtitles(
    Authenticated(current): Authenticated,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !state.vision.is_configured() {
        return Err(ApiError::VisionUnavailable);
    }
    let limit = state.settings.vision.max_image_bytes;
    let image = read_image(&req, payload, limit).await?;
    let kind = ImageKind::sniff(&image).ok_or(ApiError::NotAnImage)?;

    let plan = current.profile.effective_plan(now_ms());
    let quota = Quota {
        scratch: &state.scratch,
        journal: &state.journal,
        free_limit: state.settings.plans.free.daily_ocr_limit,
        upstream_timeout: state.settings.vision.timeout,
    };
    let unit = match quota.take(current.user_id, plan).await {
        Ok(unit) => unit,
        Err(QuotaError::Exceeded {
            limit,
            retry_after_secs,
        }) => {
            state.metrics.quota_refusals.inc();
            return Err(ApiError::QuotaExceeded {
                limit,
                retry_after_secs,
            });
        }
        Err(QuotaError::Busy {
            limit,
            used,
            pending,
            retry_after_secs,
        }) => {
            state.metrics.quota_busy_refusals.inc();
            return Err(ApiError::QuotaBusy {
                limit,
                used,
                pending,
                retry_after_secs,
            });
        }
        Err(QuotaError::Store(e)) => return Err(e.into()),
    };

    let started = std::time::Instant::now();
    let result = state.vision.read_subtitles(kind, &image).await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(UpstreamError::Timeout(_)) => "upstream_timeout",
        Err(UpstreamError::Failed(_)) => "upstream_error",
    };
    state
        .metrics
        .vision_calls
        .with_label_values(&[outcome])
        .inc();
    state
        .metrics
        .vision_latency
        .with_label_values(&[outcome])
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok(subtitles) => {
            quota.used(unit).await;
            Ok(HttpResponse::Ok().json(Subtitles {
                success: Flag,
                subtitles,
            }))
        }
        Err(e) => {
            quota.give_back(unit).await;
            tracing::warn!(error = %crate::http::error::error_chain(&e), "vision call failed");
            Err(match e {
                UpstreamError::Timeout(_) => ApiError::UpstreamTimeout,
                UpstreamError::Failed(cause) => ApiError::UpstreamError(cause),
            })
        }
    }
}

/// Reads the `image` part, refusing more than `limit` bytes as soon as they arrive (never
/// buffering an oversized body). Other parts are read with a small bound and dropped.
///
/// The whole body is bounded too, whatever its framing: `Content-Length` is checked up front
/// when there is one, and the stream itself is cut off past `limit` plus the framing's room,
/// so a chunked body (which declares no length) or one of many small parts cannot make us
/// read more than a declared one could.
async fn read_image(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let too_large = ApiError::ImageTooLarge { limit };
    let body_limit = limit.saturating_add(MULTIPART_OVERHEAD);
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > body_limit) {
        return Err(too_large);
    }
    let mut multipart = Multipart::new(req.headers(), bounded(payload, body_limit));
    let mut image = None;
    let mut parts = 0;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|e| multipart_error(e, limit))?;
        parts += 1;
        if parts > MAX_PARTS {
            return Err(ApiError::BadRequest {
                code: "invalid_multipart",
                message: format!("The upload has more than {MAX_PARTS} parts."),
            });
        }
        let is_image = field.name() == Some("image") && image.is_none();
        let bound = if is_image { limit } else { MULTIPART_OVERHEAD };
        let bytes = read_field(&mut field, bound, limit).await?;
        if is_image {
            image = Some(bytes);
        }
    }
    image.ok_or_else(|| ApiError::BadRequest {
        code: "missing_image",
        message: "The request has no multipart part named `image`.".into(),
    })
}

/// The request body, failing with `Overflow` as soon as more than `max` bytes have come.
fn bounded(payload: web::Payload, max: usize) -> impl Stream<Item = Result<Bytes, PayloadError>> {
    let mut seen = 0usize;
    payload.map(move |chunk| {
        let chunk = chunk?;
        seen = seen.saturating_add(chunk.len());
        if seen > max {
            return Err(PayloadError::Overflow);
        }
        Ok(chunk)
    })
}

/// `image_limit` is what the client is told it passed; `limit` is this part's bound.
async fn read_field(
    field: &mut Field,
    limit: usize,
    image_limit: usize,
) -> Result<Vec<u8>, ApiError> {
    match field.bytes(limit).await {
        Ok(Ok(bytes)) => Ok(bytes.to_vec()),
        Ok(Err(e)) => Err(multipart_error(e, image_limit)),
        Err(_) => Err(ApiError::ImageTooLarge { limit: image_limit }),
    }
}

/// A body cut off by [`bounded`] is too large; anything else is not multipart.
fn multipart_error(e: MultipartError, image_limit: usize) -> ApiError {
    if matches!(e, MultipartError::Payload(PayloadError::Overflow)) {
        return ApiError::ImageTooLarge { limit: image_limit };
    }
    ApiError::BadRequest {
        code: "invalid_multipart",
        message: format!("The body is not a valid multipart/form-data upload: {e}"),
    }
}
