// The capture and quota journeys (lib/capture.mjs) in Firefox ESR, in token mode (the
// extension's mode there). The latchkey button is clicked by running the browser window's own
// code for that click (see FirefoxProfile.pressToolbarButton), which grants activeTab.

import { captureJourney } from "../lib/capture.mjs";
import { firefoxDriver } from "../lib/firefox.mjs";

captureJourney({
  driver: firefoxDriver,
  mode: "token",
  user: { sub: "e2e-erin", email: "erin@example.com", name: "Erin Firefox", picture: "/avatar-erin.svg" },
});
