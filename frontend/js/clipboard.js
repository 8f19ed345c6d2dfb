// Copying text. navigator.clipboard exists only in secure contexts (https, localhost); Berth is
// often reached over plain http on a LAN, where the old execCommand("copy") still works.
export function copyText(text) {
  if (window.isSecureContext && navigator.clipboard) {
    return navigator.clipboard.writeText(text).then(() => true, () => copyWithSelection(text));
  }
  return Promise.resolve(copyWithSelection(text));
}

function copyWithSelection(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch (_) {
    ok = false;
  }
  area.remove();
  return ok;
}
