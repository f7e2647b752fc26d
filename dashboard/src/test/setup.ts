import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { toast } from 'sonner';
import { afterEach } from 'vitest';

// jsdom lacks pointer capture, which sonner's swipe-to-dismiss calls on pointerdown.
if (!('setPointerCapture' in Element.prototype)) {
  Object.assign(Element.prototype, { setPointerCapture: () => undefined, releasePointerCapture: () => undefined });
}

afterEach(() => {
  toast.dismiss(); // sonner keeps toasts in module state and replays active ones to a new Toaster
  cleanup();
  localStorage.clear();
});
