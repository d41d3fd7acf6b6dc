// The capture and quota journeys (lib/capture.mjs) in Chromium, in cookie mode and in token
// mode. The latchkey button is clicked through CDP's Extensions.triggerAction (see
// Profile.pressToolbarButton), which grants activeTab as a user's click does.

import { chromiumDriver } from "../lib/browser.mjs";
import { captureJourney } from "../lib/capture.mjs";

captureJourney({
  driver: chromiumDriver,
  mode: "cookie",
  user: { sub: "e2e-dana", email: "dana@example.com", name: "Dana Tanaka", picture: "/avatar-dana.svg" },
});

captureJourney({
  driver: chromiumDriver,
  mode: "token",
  user: { sub: "e2e-frank", email: "frank@example.com", name: "Frank Token", picture: "/avatar-frank.svg" },
});
