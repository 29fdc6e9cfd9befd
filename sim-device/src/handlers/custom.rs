//! Application ("custom") endpoints (spec §6.6): ordinary data endpoints with an app-defined payload.

use super::Reply;
use crate::config::CustomBehaviour;
use crate::error::{EspErr, NoResponse, Reject};

/// An application endpoint: answer as its behaviour says.
pub(crate) fn custom_endpoint(
    behaviour: &CustomBehaviour,
    req: &[u8],
) -> Result<Reply, NoResponse> {
    let out = match behaviour {
        CustomBehaviour::Echo => req.to_vec(),
        CustomBehaviour::Fixed(bytes) => bytes.clone(),
    };
    if out.is_empty() {
        // The handler's output buffer would be malloc(0), NULL on a chip.
        return Err(NoResponse::with(EspErr::NoMem, Reject::CustomHandlerFailed));
    }
    Ok(Reply::Ready(out))
}
