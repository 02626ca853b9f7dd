// Your name, as the others see it when you change the group's view: made up once, kept in
// this browser.

const NAME_KEY = "tablecast:name";

export function myName() {
  try {
    let name = localStorage.getItem(NAME_KEY);
    if (!name) {
      name = `Guest ${1000 + Math.floor(Math.random() * 9000)}`;
      localStorage.setItem(NAME_KEY, name);
    }
    return name;
  } catch {
    return "Guest";
  }
}
