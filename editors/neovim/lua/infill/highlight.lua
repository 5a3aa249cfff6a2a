-- The colour of ghost text. Neovim's default colour scheme gives NonText (which ComplHint, the
-- group vim.lsp.inline_completion draws with, links to) and Comment a GUI colour only: in a
-- terminal without 'termguicolors' (256 or 16 colours) a suggestion drawn with them had the
-- code's own colour. InfillGhostText has both; it is a default, so a colour scheme or the
-- user's own :highlight wins.

local M = {}

local api = vim.api

M.group = 'InfillGhostText'

local FALLBACK_GUI = '#808080'
local FALLBACK_CTERM = 8 -- the terminal's dark grey ("bright black") in 16 and 256 colours

local function define()
  local nontext = api.nvim_get_hl(0, { name = 'NonText', link = false })
  api.nvim_set_hl(0, M.group, {
    default = true,
    fg = nontext.fg or FALLBACK_GUI,
    ctermfg = nontext.ctermfg or FALLBACK_CTERM,
  })
  -- ComplHint is left alone when a colour scheme set it, or gave NonText a cterm colour.
  local hint = api.nvim_get_hl(0, { name = 'ComplHint' })
  if hint.link == 'NonText' and nontext.ctermfg == nil then
    api.nvim_set_hl(0, 'ComplHint', { link = M.group })
  end
end

--- Defines the colours now and again after every :colorscheme (which clears them).
function M.setup(augroup)
  define()
  api.nvim_create_autocmd('ColorScheme', { group = augroup, callback = define })
end

return M
