// The page's elements, by id (templates/index.html).

export const $ = (id) => document.getElementById(id);
